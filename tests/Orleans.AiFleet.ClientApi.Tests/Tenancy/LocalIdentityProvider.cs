using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Orleans.AiFleet.ClientApi.Tests.Tenancy;

/// <summary>
/// A stand-in identity provider on loopback for the focused token tests: OpenID discovery and a JWKS (counting how
/// often the keys are fetched), RSA keys that can be rotated, and tokens signed here with any flaw a test wants.
/// </summary>
public sealed class LocalIdentityProvider : IAsyncDisposable
{
    public const string Audience = "urn:aifleet-tests";

    private readonly WebApplication _app;
    private readonly List<RsaSecurityKey> _published = [];
    private int _jwksFetches;

    public LocalIdentityProvider()
    {
        Port = TestHosts.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(Issuer);
        _app = builder.Build();
        _app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = Issuer,
            ["jwks_uri"] = $"{Issuer}/jwks",
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
        }));
        _app.MapGet("/jwks", () =>
        {
            Interlocked.Increment(ref _jwksFetches);
            lock (_published)
            {
                var keys = _published.Select(k => JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(k.Rsa.ExportParameters(false)) { KeyId = k.KeyId }))
                    .Select(k => new Dictionary<string, string> { ["kty"] = "RSA", ["use"] = "sig", ["alg"] = "RS256", ["kid"] = k.Kid, ["n"] = k.N, ["e"] = k.E });
                return Results.Text(JsonSerializer.Serialize(new { keys }), "application/json");
            }
        });
        Current = Rotate();
        _app.StartAsync().GetAwaiter().GetResult();
    }

    public int Port { get; }

    public string Issuer => $"http://127.0.0.1:{Port}";

    /// <summary>The key new tokens are signed with.</summary>
    public RsaSecurityKey Current { get; private set; }

    public int JwksFetches => Volatile.Read(ref _jwksFetches);

    /// <summary>Publishes a new key (the old ones stay published) and signs with it from now on.</summary>
    public RsaSecurityKey Rotate()
    {
        var key = new RsaSecurityKey(RSA.Create(2048)) { KeyId = $"kid-{Guid.NewGuid():N}" };
        lock (_published)
        {
            _published.Add(key);
        }

        return Current = key;
    }

    /// <summary>A signed token for <paramref name="claims"/>; every other field defaults to a valid one and can be overridden.</summary>
    public string Token(IDictionary<string, object> claims, string? issuer = null, string? audience = null, DateTime? notBefore = null,
        DateTime? expires = null, SigningCredentials? signing = null)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Issuer,
            Audience = audience ?? Audience,
            IssuedAt = notBefore ?? now.AddMinutes(-1),
            NotBefore = notBefore ?? now.AddMinutes(-1),
            Expires = expires ?? now.AddMinutes(5),
            Claims = claims,
            SigningCredentials = signing ?? new SigningCredentials(Current, SecurityAlgorithms.RsaSha256),
        });
    }

    /// <summary>The claims the platform puts in a student's token.</summary>
    public static Dictionary<string, object> Student(string user, string org, params string[] teams) => new()
    {
        ["sub"] = user,
        ["org"] = org,
        ["teams"] = teams,
        ["role"] = "member",
        ["name"] = $"Student {user}",
    };

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>The embedded default trusting <see cref="LocalIdentityProvider"/> by OpenID discovery, with its log lines kept for inspection.</summary>
public sealed class LocalTokenApiFixture() : ApiFixtureBase(TestRepository.CopyOfShipped())
{
    public LocalIdentityProvider Provider { get; } = new();

    public CapturedLogs Logs { get; } = new();

    /// <summary>Shorter than the one-minute default so the rotation test need not wait a minute after another test's forged key id.</summary>
    public const int UnknownKeyRefreshSeconds = 3;

    protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("AiFleet:Auth:Jwt:Authority", Provider.Issuer);
        builder.UseSetting("AiFleet:Auth:Jwt:Audience", LocalIdentityProvider.Audience);
        builder.UseSetting("AiFleet:Auth:Jwt:RequireHttpsMetadata", "false");
        builder.UseSetting("AiFleet:Auth:Jwt:UnknownKeyRefreshSeconds", UnknownKeyRefreshSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.ConfigureLogging(logging => logging.AddProvider(Logs));
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Provider.DisposeAsync();
    }
}
