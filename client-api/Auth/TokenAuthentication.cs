using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Orleans.AiFleet.ClientApi.Failures;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// The platform's tokens beside API keys: a Bearer credential shaped like a JWT goes to ASP.NET Core's JwtBearer
/// (configured from <see cref="TokenOptions"/>), everything else to the key handler, on every protocol that sends an
/// Authorization header (HTTP, SSE, gRPC metadata, the WebSocket upgrade). A validated token's claims are mapped to a
/// user of an organization, provisioned on first sight (<see cref="TokenIdentities"/>). Every refusal is a 401 in the
/// route's protocol naming the reason; no part of a token is logged or echoed.
/// </summary>
internal static class TokenAuthentication
{
    public const string SchemeName = "Jwt";

    /// <summary>Where the sign-in page puts a token typed into its form, for JwtBearer to validate like a header's.</summary>
    public const string SignInTokenItem = "aifleet.signin-token";

    private const string FailureItem = "aifleet.token-failure";

    /// <summary>Asymmetric algorithms only: a token signed with HMAC (e.g. with the provider's public key as the secret) is refused.</summary>
    private static readonly string[] Algorithms =
    [
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.RsaSsaPssSha384, SecurityAlgorithms.RsaSsaPssSha512,
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.EcdsaSha512,
    ];

    public static AuthenticationBuilder AddPlatformTokens(this AuthenticationBuilder authentication)
    {
        var services = authentication.Services;
        services.AddOptions<TokenOptions>().BindConfiguration(TokenOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TokenOptions>, TokenOptionsValidator>();
        services.AddSingleton<TokenIdentities>();
        services.AddSingleton<IConfigureOptions<JwtBearerOptions>, ConfigureJwtBearer>();
        return authentication.AddJwtBearer(SchemeName, _ => { });
    }

    /// <summary>Whether the request's Bearer credential is a JWT (three base64url parts) and tokens are on.</summary>
    public static bool CarriesToken(HttpContext http)
    {
        string? header = http.Request.Headers.Authorization;
        return header is { Length: > 7 } && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && LooksLikeJwt(header.AsSpan(7).Trim())
            && http.RequestServices.GetRequiredService<IOptions<TokenOptions>>().Value.Enabled;
    }

    public static bool LooksLikeJwt(ReadOnlySpan<char> credential) =>
        credential.StartsWith("eyJ", StringComparison.Ordinal) && credential.Count('.') == 2 && credential.Length <= MaxTokenLength;

    /// <summary>Tokens longer than this are refused unread (provider tokens are 1–2 KB).</summary>
    public const int MaxTokenLength = 8 * 1024;

    /// <summary>Why a token was refused, in words a client can act on (never the token or its claims' values).</summary>
    internal static string Reason(Exception? failure) => failure switch
    {
        SecurityTokenExpiredException => "the token has expired",
        SecurityTokenNotYetValidException => "the token is not valid yet (its 'nbf' is in the future)",
        SecurityTokenNoExpirationException => "the token has no expiry ('exp')",
        SecurityTokenInvalidIssuerException => "the token's issuer is not the configured identity provider",
        SecurityTokenInvalidAudienceException => "the token's audience is not this service",
        SecurityTokenInvalidAlgorithmException => "the token's signing algorithm is not accepted (RSA or ECDSA only)",
        SecurityTokenSignatureKeyNotFoundException => "the token is signed with a key the identity provider does not publish",
        SecurityTokenInvalidSignatureException => "the token's signature is not valid, or it is not signed",
        SecurityTokenMalformedException or ArgumentException => "the token is not a well-formed JWT",
        SecurityTokenException => "the token is not valid",
        AuthenticationFailureException refused => refused.Message, // our own refusal (a missing claim, an unknown team)
        null => "the token is not valid",
        _ => "the token could not be checked",
    };

    /// <summary>Builds JwtBearer's settings from <see cref="TokenOptions"/>, with the events that map claims and shape refusals.</summary>
    private sealed class ConfigureJwtBearer(IOptions<TokenOptions> tokens) : IConfigureNamedOptions<JwtBearerOptions>
    {
        public void Configure(JwtBearerOptions options) => Configure(Options.DefaultName, options);

        public void Configure(string? name, JwtBearerOptions o)
        {
            if (name != SchemeName)
            {
                return;
            }

            var t = tokens.Value;
            o.MapInboundClaims = false;
            o.Authority = string.IsNullOrWhiteSpace(t.Authority) ? null : t.Authority;
            if (!string.IsNullOrWhiteSpace(t.MetadataAddress))
            {
                o.MetadataAddress = t.MetadataAddress;
            }

            o.Audience = t.Audience;
            o.RequireHttpsMetadata = t.RequireHttpsMetadata;
            o.RefreshOnIssuerKeyNotFound = true;
            o.RefreshInterval = TimeSpan.FromSeconds(t.UnknownKeyRefreshSeconds);
            o.IncludeErrorDetails = false; // the reason goes in the body, never token details in a header
            o.TokenValidationParameters = new TokenValidationParameters
            {
                ValidateIssuer = true,
                ValidIssuer = string.IsNullOrWhiteSpace(t.Issuer) ? null : t.Issuer,
                ValidateAudience = true,
                ValidAudience = t.Audience,
                ValidateLifetime = true,
                RequireExpirationTime = true,
                ClockSkew = TimeSpan.FromSeconds(t.ClockSkewSeconds),
                RequireSignedTokens = true,
                ValidateIssuerSigningKey = true,
                ValidAlgorithms = Algorithms,
                IssuerSigningKeys = string.IsNullOrWhiteSpace(t.Jwks) ? null : new JsonWebKeySet(t.Jwks).GetSigningKeys(),
            };
            o.Events = new JwtBearerEvents
            {
                OnMessageReceived = context =>
                {
                    if (context.HttpContext.Items.TryGetValue(SignInTokenItem, out var typed) && typed is string token)
                    {
                        context.Token = token;
                    }

                    return Task.CompletedTask;
                },
                OnTokenValidated = OnTokenValidatedAsync,
                OnAuthenticationFailed = context =>
                {
                    context.HttpContext.Items[FailureItem] = context.Exception is AiFleetException unavailable && unavailable.Kind == FailureKind.Unavailable
                        ? unavailable
                        : Reason(context.Exception);
                    context.HttpContext.RequestServices.GetRequiredService<AuthFailureThrottle>().Failed(context.HttpContext);
                    return Task.CompletedTask;
                },
                OnChallenge = async context =>
                {
                    context.HandleResponse();
                    var failure = context.HttpContext.Items.TryGetValue(FailureItem, out var item) ? item : null;
                    if (failure is AiFleetException unavailable)
                    {
                        await FailureRenderer.WriteAsync(context.HttpContext, unavailable);
                        return;
                    }

                    await ApiErrors.UnauthorizedAsync(context.HttpContext, failure as string ?? context.AuthenticateFailure?.Message ?? "a valid token is required");
                },
                OnForbidden = context => ApiErrors.ForbiddenAsync(context.HttpContext, "this token's role may not use this route"),
            };
        }

        private static async Task OnTokenValidatedAsync(TokenValidatedContext context)
        {
            var identities = context.HttpContext.RequestServices.GetRequiredService<TokenIdentities>();
            var claims = context.Principal ?? new ClaimsPrincipal();
            var expires = context.SecurityToken is JsonWebToken jwt ? new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero) : DateTimeOffset.UtcNow;
            var (user, refusal) = await identities.ResolveAsync(claims);
            if (user is null)
            {
                context.HttpContext.Items[FailureItem] = refusal;
                context.Fail(refusal!);
                return;
            }

            context.Principal = CallerClaims.ForToken(user, expires, SchemeName);
        }
    }
}
