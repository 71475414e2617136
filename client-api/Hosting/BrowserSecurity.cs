using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.HttpOverrides;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.Grains.Hosting;
using StackExchange.Redis;

namespace Orleans.AiFleet.ClientApi.Hosting;

/// <summary>
/// What a browser session needs to be trusted: sessions kept server-side (sign-out ends them, a replayed cookie is
/// refused), Data Protection keys and sessions shared through Redis when client-api runs beside a cluster (so any
/// replica reads any cookie), forwarded headers from a TLS ingress (so cookies are Secure there), and pages that
/// cannot be framed or run scripts they did not ship.
/// </summary>
internal static partial class BrowserSecurity
{
    public static WebApplicationBuilder AddBrowserSecurity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var redis = builder.Configuration.GetSection(AiFleetClusterOptions.SectionName).Get<AiFleetClusterOptions>()?.Redis;
        var protection = services.AddDataProtection().SetApplicationName("orleans-aifleet");
        if (!string.IsNullOrWhiteSpace(redis))
        {
            var connection = new Lazy<IConnectionMultiplexer>(() => ConnectionMultiplexer.Connect(redis));
            protection.PersistKeysToStackExchangeRedis(() => connection.Value.GetDatabase(), "aifleet:dataprotection-keys");
            services.AddStackExchangeRedisCache(o => o.ConnectionMultiplexerFactory = () => Task.FromResult(connection.Value));
        }
        else
        {
            services.AddDistributedMemoryCache(); // one process: the embedded default
        }

        services.AddSingleton<SessionTicketStore>();
        services.AddOptions<CookieAuthenticationOptions>(CookieAuthenticationDefaults.AuthenticationScheme)
            .Configure<SessionTicketStore>((o, store) => o.SessionStore = store);

        // Behind a TLS-terminating ingress: the scheme and client address it saw. Which proxies are trusted is the
        // operator's (ForwardedHeaders:KnownProxies / KnownNetworks); by default only loopback, as ASP.NET Core does.
        services.Configure<ForwardedHeadersOptions>(o =>
        {
            o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            builder.Configuration.GetSection("ForwardedHeaders").Bind(o);
        });
        return builder;
    }

    /// <summary>Forwarded headers first (so the scheme and address are right for everything after), then page headers.</summary>
    public static WebApplication UseBrowserSecurity(this WebApplication app)
    {
        app.UseForwardedHeaders();
        app.Use((http, next) =>
        {
            var path = http.Request.Path;
            if (path.StartsWithSegments("/console") || path.StartsWithSegments("/signin") || path.StartsWithSegments("/dashboard"))
            {
                var headers = http.Response.Headers;
                headers.XFrameOptions = "DENY";
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                if (!path.StartsWithSegments("/dashboard")) // the Orleans dashboard's own page is not ours to restrict
                {
                    headers.ContentSecurityPolicy = ContentSecurityPolicy.Value;
                }
            }

            return next(http);
        });
        return app;
    }

    /// <summary>
    /// Scripts from this site only, plus the console pages' own inline scripts by hash: an injected script runs nowhere.
    /// </summary>
    private static readonly Lazy<string> ContentSecurityPolicy = new(() =>
    {
        var hashes = Apis.ConsoleApi.Pages()
            .SelectMany(page => InlineScript().Matches(page).Select(m => m.Groups[1].Value))
            .Select(script => $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(script)))}'")
            .Distinct();
        return $"default-src 'self'; script-src 'self' {string.Join(' ', hashes)}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            + "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
    });

    [GeneratedRegex("<script>(.*?)</script>", RegexOptions.Singleline)]
    private static partial Regex InlineScript();
}
