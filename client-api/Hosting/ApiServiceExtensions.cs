using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.GrainInterfaces.Auth;
using Orleans.AiFleet.ClientApi.Apis;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Inference;

namespace Orleans.AiFleet.ClientApi.Hosting;

/// <summary>client-api's own services: authentication, the model catalogue cache, warm-up and readiness, metrics.</summary>
internal static class ApiServiceExtensions
{
    /// <summary>Admins by Bearer key (tools) or by the sign-in cookie (people in a browser): the dashboard.</summary>
    public const string DashboardPolicy = "dashboard";

    /// <summary>Any signed-in caller, by Bearer key or by a browser's session cookie (the WebSocket route).</summary>
    public const string BrowserOrBearerPolicy = "browser-or-bearer";

    /// <summary>The scheme that picks Bearer when an Authorization header is sent, else the cookie.</summary>
    public const string BrowserOrBearer = "browser-or-bearer";

    private static bool WantsHtml(HttpRequest request) => request.Headers.Accept.Any(a => a?.Contains("text/html", StringComparison.OrdinalIgnoreCase) == true);

    private static Task RedirectAsync(RedirectContext<CookieAuthenticationOptions> context)
    {
        context.Response.Redirect(context.RedirectUri);
        return Task.CompletedTask;
    }

    public static WebApplicationBuilder AddAiFleetApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ModelCatalog>();
        services.AddProblemDetails();
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        services.AddSingleton<ApiKeyValidator>();
        services.AddSingleton<SocketConnections>();
        services.AddSingleton<AuthFailureThrottle>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            // A JWT-shaped Bearer credential is the platform's token: forwarded to JwtBearer; anything else is a key.
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName,
                o => o.ForwardDefaultSelector = http => TokenAuthentication.CarriesToken(http) ? TokenAuthentication.SchemeName : null)
            .AddPlatformTokens()
            .AddCookie(CookieAuthenticationDefaults.AuthenticationScheme, o =>
            {
                // People in a browser (the dashboard): signed in at /signin with a key, kept in this cookie.
                o.Cookie.Name = "aifleet_session";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.LoginPath = SignInApi.Path;
                o.AccessDeniedPath = SignInApi.Path;
                o.ExpireTimeSpan = TimeSpan.FromHours(8);
                o.SlidingExpiration = true;
                // A browser is sent to the sign-in page; a tool (no HTML wanted) gets the 401/403 it can read.
                o.Events.OnRedirectToLogin = context => WantsHtml(context.Request)
                    ? RedirectAsync(context)
                    : ApiErrors.UnauthorizedAsync(context.HttpContext, "an API key is required: send 'Authorization: Bearer <key>', or sign in at /signin");
                o.Events.OnRedirectToAccessDenied = context => WantsHtml(context.Request)
                    ? RedirectAsync(context)
                    : ApiErrors.ForbiddenAsync(context.HttpContext, "this key's role may not use this route");
                o.Events.OnValidatePrincipal = async context =>
                {
                    if (context.Principal?.SessionExpires() is { } expires)
                    {
                        if (expires <= context.HttpContext.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow())
                        {
                            context.RejectPrincipal(); // signed in with a token: the session ends with it
                            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
                        }

                        return;
                    }

                    var validator = context.HttpContext.RequestServices.GetRequiredService<ApiKeyValidator>();
                    if (context.Principal?.FindFirst(ApiKeyValidator.KeyHashClaim)?.Value is not { } hash || !await validator.IsStillValidAsync(hash))
                    {
                        context.RejectPrincipal(); // the key was revoked: the session ends with it
                        await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
                    }
                };
            })
            .AddPolicyScheme(BrowserOrBearer, BrowserOrBearer, o => o.ForwardDefaultSelector = http =>
                http.Request.Headers.Authorization.Count > 0 ? ApiKeyAuthenticationHandler.SchemeName : CookieAuthenticationDefaults.AuthenticationScheme);
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "aifleet_antiforgery";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        });
        var signedIn = new AuthorizationPolicyBuilder(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser().Build();
        services.AddAuthorizationBuilder()
            .SetDefaultPolicy(signedIn)
            .SetFallbackPolicy(signedIn) // every route needs a key unless it says otherwise (health, metrics)
            .AddPolicy(ApiKeyAuthenticationHandler.AdminPolicy, p => p
                .AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser().RequireRole(Roles.Admin))
            .AddPolicy(DashboardPolicy, p => p
                .AddAuthenticationSchemes(BrowserOrBearer).RequireAuthenticatedUser().RequireRole(Roles.Admin))
            .AddPolicy(TenantsApi.TenantAdminPolicy, p => p
                .AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser()
                .RequireRole(Roles.Admin, GrainInterfaces.Tenancy.TenantRoles.OrgAdmin, GrainInterfaces.Tenancy.TenantRoles.TeamAdmin))
            .AddPolicy(BrowserOrBearerPolicy, p => p.AddAuthenticationSchemes(BrowserOrBearer).RequireAuthenticatedUser());
        services.AddExceptionHandler<FailureHandler>();
        // Binding failures throw, so the failure handler names the field in the route's protocol (not an empty 400).
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
        services.AddSingleton<ModelReadinessService>();
        services.AddHostedService(sp => sp.GetRequiredService<ModelReadinessService>());
        services.AddHealthChecks().AddCheck<ModelReadinessService>("models", tags: [HealthApi.ReadyTag]);
        var telemetry = services.AddAiFleetMetrics(metrics => metrics.AddAspNetCoreInstrumentation().AddPrometheusExporter());
        if (AiFleetTracing.IsEnabled(builder.Configuration))
        {
            // W3C trace context from the HTTP request through grain calls to the replica's batch; OTLP when an endpoint is set.
            telemetry.WithTracing(tracing =>
            {
                tracing.AddSource(AiFleetTracing.Sources).AddAspNetCoreInstrumentation(o => o.Filter = http =>
                    !http.Request.Path.StartsWithSegments("/metrics") && !http.Request.Path.StartsWithSegments("/health"));
                if (AiFleetTracing.ExportsOtlp(builder.Configuration))
                {
                    tracing.AddOtlpExporter();
                }
            });
        }
        return builder;
    }
}
