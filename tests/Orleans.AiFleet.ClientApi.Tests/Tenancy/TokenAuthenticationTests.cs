using System.Net;
using System.Net.Http.Json;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.IdentityModel.Tokens;
using Orleans.AiFleet.Grpc.Inference;
using GrpcMetadata = Grpc.Core.Metadata;

namespace Orleans.AiFleet.ClientApi.Tests.Tenancy;

/// <summary>
/// The platform's tokens with locally signed JWTs: a valid one signs a student in (provisioned with their class's
/// default budget) on every protocol; every flawed one is a 401 in the protocol's error shape naming the reason, and no
/// part of any token reaches the log.
/// </summary>
public sealed class TokenAuthenticationTests(LocalTokenApiFixture fixture) : IClassFixture<LocalTokenApiFixture>
{
    private static readonly string Org = $"school-{Guid.NewGuid():N}"[..20];

    private LocalIdentityProvider Idp => fixture.Provider;

    public enum Flaw { Expired, NotYetValid, WrongIssuer, WrongAudience, BadSignature, AlgNone, Hs256WithThePublicKey, NoOrg, NoUser, UnknownTeam, PlatformAdminRole }

    public static TheoryData<Flaw, string> Flaws => new()
    {
        { Flaw.Expired, "the token has expired" },
        { Flaw.NotYetValid, "not valid yet" },
        { Flaw.WrongIssuer, "issuer is not the configured identity provider" },
        { Flaw.WrongAudience, "audience is not this service" },
        { Flaw.BadSignature, "signature is not valid" },
        { Flaw.AlgNone, "not signed" },
        { Flaw.Hs256WithThePublicKey, "signature is not valid" },
        { Flaw.NoOrg, "lacks the 'org' claim" },
        { Flaw.NoUser, "lacks the 'sub' claim" },
        { Flaw.UnknownTeam, "no team 'no-such-class'" },
        { Flaw.PlatformAdminRole, "platform admins use an API key" },
    };

    [Theory]
    [MemberData(nameof(Flaws))]
    public async Task FlawedToken_Is401_NamingTheReason_OnEveryProtocol_AndNeverLogged(Flaw flaw, string reason)
    {
        await SchoolAsync();
        var token = Flawed(flaw);
        using var http = fixture.Client(token);

        using var kserve = await http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0));
        Assert.Equal(HttpStatusCode.Unauthorized, kserve.StatusCode);
        Assert.Contains(reason, (await kserve.JsonAsync()).GetProperty("error").GetString());

        using var openAi = await http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = "hello" });
        Assert.Equal(HttpStatusCode.Unauthorized, openAi.StatusCode);
        Assert.Contains(reason, (await openAi.JsonAsync()).GetProperty("error").GetProperty("message").GetString());

        using var admin = await http.GetAsync($"/v1/admin/orgs/{Org}");
        Assert.Equal(HttpStatusCode.Unauthorized, admin.StatusCode);
        Assert.Contains(reason, (await admin.JsonAsync()).GetProperty("detail").GetString());

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{fixture.GrpcPort}");
        var grpc = await Assert.ThrowsAsync<RpcException>(() => new GRPCInferenceService.GRPCInferenceServiceClient(channel)
            .ServerMetadataAsync(new ServerMetadataRequest(), new GrpcMetadata { { "authorization", $"Bearer {token}" } }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, grpc.StatusCode);
        Assert.Contains(reason, grpc.Status.Detail);

        // Neither the token nor any of its three parts is written to the log (the signature alone is enough to replay it).
        var logs = fixture.Logs.All;
        foreach (var part in token.Split('.').Where(p => p.Length > 8).Append(token))
        {
            Assert.DoesNotContain(part, logs);
        }
    }

    [Fact]
    public async Task StudentToken_SignsIn_ProvisionedWithTheirClasssDefaultBudget_OnHttpAndGrpc()
    {
        var (org, team) = await SchoolAsync();
        var student = $"ada-{Guid.NewGuid():N}";
        var token = Idp.Token(LocalIdentityProvider.Student(student, org, team));
        using var http = fixture.Client(token);

        Assert.Equal(HttpStatusCode.OK, (await http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0))).StatusCode);

        var user = await (await fixture.Http.GetAsync($"/v1/admin/orgs/{org}/users/{student}")).JsonAsync();
        Assert.Equal(("member", "token", team), (user.GetProperty("role").GetString(), user.GetProperty("source").GetString(), user.GetProperty("teams")[0].GetString()));
        var budget = await (await http.GetAsync("/v1/budget")).JsonAsync();
        Assert.Equal(student, budget.GetProperty("user").GetString());
        Assert.Equal(1.25m, budget.GetProperty("limits").GetProperty("daily").GetDecimal());

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{fixture.GrpcPort}");
        var metadata = await new GRPCInferenceService.GRPCInferenceServiceClient(channel)
            .ServerMetadataAsync(new ServerMetadataRequest(), new GrpcMetadata { { "authorization", $"Bearer {token}" } });
        Assert.False(string.IsNullOrEmpty(metadata.Name));

        // A member is not an admin: the tenant routes are closed to them.
        Assert.Equal(HttpStatusCode.Forbidden, (await http.GetAsync($"/v1/admin/orgs/{org}")).StatusCode);
    }

    [Fact]
    public async Task RotatedKey_IsFetchedOnce_AndUnknownKeyIdsRefreshAtMostOncePerPeriod()
    {
        var (org, team) = await SchoolAsync();
        var period = TimeSpan.FromSeconds(LocalTokenApiFixture.UnknownKeyRefreshSeconds);
        using var before = fixture.Client(Idp.Token(LocalIdentityProvider.Student($"s-{Guid.NewGuid():N}", org, team)));
        Assert.Equal(HttpStatusCode.OK, (await before.GetAsync("/v1/budget")).StatusCode);

        Idp.Rotate();
        var fetched = Idp.JwksFetches;
        using var after = fixture.Client(Idp.Token(LocalIdentityProvider.Student($"s-{Guid.NewGuid():N}", org, team)));
        // Another test's forged key id may have used this period's refresh: the new key is fetched in the next one.
        await Eventually.TrueAsync(async () => (await after.GetAsync("/v1/budget")).StatusCode == HttpStatusCode.OK,
            "a token signed with the provider's new key to be accepted", period + TimeSpan.FromSeconds(10));

        Assert.Equal(fetched + 1, Idp.JwksFetches);

        // A flood of tokens naming key ids the provider never published fetches the keys at most once per period.
        fetched = Idp.JwksFetches;
        var stranger = System.Security.Cryptography.RSA.Create(2048);
        var started = DateTime.UtcNow;
        for (var i = 0; i < 50; i++)
        {
            var forgedKey = new RsaSecurityKey(stranger) { KeyId = $"made-up-{i}" };
            using var forged = fixture.Client(Idp.Token(LocalIdentityProvider.Student("mallory", org, team), signing: new SigningCredentials(forgedKey, SecurityAlgorithms.RsaSha256)));
            using var refused = await forged.GetAsync("/v1/budget");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains("a key the identity provider does not publish", (await refused.JsonAsync()).GetProperty("detail").GetString());
        }

        var periods = (int)((DateTime.UtcNow - started) / period) + 1;
        Assert.True(Idp.JwksFetches - fetched <= periods, $"50 unknown key ids over {periods} refresh periods fetched the keys {Idp.JwksFetches - fetched} times");
    }

    [Fact]
    public async Task Token_AndApiKey_WorkSideBySide()
    {
        var (org, team) = await SchoolAsync();
        using var student = fixture.Client(Idp.Token(LocalIdentityProvider.Student($"s-{Guid.NewGuid():N}", org, team)));
        using var keyUser = fixture.Client(await fixture.NewUserKeyAsync($"k-{Guid.NewGuid():N}"));

        Assert.Equal(HttpStatusCode.OK, (await student.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await keyUser.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0))).StatusCode);
    }

    /// <summary>The test school and its class 10-b, whose members get $1.25 a day by default (made once).</summary>
    private async Task<(string Org, string Team)> SchoolAsync()
    {
        if ((await fixture.Http.GetAsync($"/v1/admin/orgs/{Org}")).StatusCode == HttpStatusCode.NotFound)
        {
            await fixture.Http.PostAsJsonAsync("/v1/admin/orgs", new { id = Org, name = "Test School" });
            await fixture.Http.PostAsJsonAsync($"/v1/admin/orgs/{Org}/teams", new { id = "10-b", name = "Class 10-B", memberDefault = new { daily = 1.25m } });
        }

        return (Org, "10-b");
    }

    private string Flawed(Flaw flaw)
    {
        var student = LocalIdentityProvider.Student($"s-{Guid.NewGuid():N}", Org, "10-b");
        var now = DateTime.UtcNow;
        switch (flaw)
        {
            case Flaw.Expired: return Idp.Token(student, notBefore: now.AddHours(-2), expires: now.AddHours(-1));
            case Flaw.NotYetValid: return Idp.Token(student, notBefore: now.AddHours(1), expires: now.AddHours(2));
            case Flaw.WrongIssuer: return Idp.Token(student, issuer: "https://elsewhere.example");
            case Flaw.WrongAudience: return Idp.Token(student, audience: "urn:another-service");
            case Flaw.BadSignature:
                var impostor = new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)) { KeyId = Idp.Current.KeyId };
                return Idp.Token(student, signing: new SigningCredentials(impostor, SecurityAlgorithms.RsaSha256));
            case Flaw.AlgNone:
                var signed = Idp.Token(student).Split('.');
                return $"{Base64Url("""{"alg":"none","typ":"JWT"}""")}.{signed[1]}.";
            case Flaw.Hs256WithThePublicKey:
                // The classic confusion attack: HMAC keyed with the provider's public key, which anyone can read.
                var publicKey = Idp.Current.Rsa.ExportSubjectPublicKeyInfo();
                return Idp.Token(student, signing: new SigningCredentials(new SymmetricSecurityKey(publicKey) { KeyId = Idp.Current.KeyId }, SecurityAlgorithms.HmacSha256));
            case Flaw.NoOrg: student.Remove("org"); return Idp.Token(student);
            case Flaw.NoUser: student.Remove("sub"); return Idp.Token(student);
            case Flaw.UnknownTeam: student["teams"] = new[] { "no-such-class" }; return Idp.Token(student);
            case Flaw.PlatformAdminRole: student["role"] = "admin"; return Idp.Token(student);
            default: throw new ArgumentOutOfRangeException(nameof(flaw));
        }
    }

    private static string Base64Url(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));
}
