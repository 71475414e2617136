using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.GrainInterfaces.Auth;
using Orleans.AiFleet.ClientApi.Apis;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Inference;

namespace Orleans.AiFleet.ClientApi.Hosting;

/// <summary>client-api's own services: authentication, the model catalogue cache, warm-up and readiness, metrics.</summary>
internal static class ApiServiceExtensions
{
    /// <summary>The meter the grains publish on (kept in step with the grains' InferenceMetrics).</summary>
    public const string AiFleetMeter = "Orleans.AiFleet";

    public static WebApplicationBuilder AddAiFleetApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ModelCatalog>();
        services.AddProblemDetails();
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AuthOptions>, AuthOptionsValidator>();
        services.AddSingleton<ApiKeyValidator>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        var signedIn = new AuthorizationPolicyBuilder(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser().Build();
        services.AddAuthorizationBuilder()
            .SetDefaultPolicy(signedIn)
            .SetFallbackPolicy(signedIn) // every route needs a key unless it says otherwise (health, metrics)
            .AddPolicy(ApiKeyAuthenticationHandler.AdminPolicy, p => p
                .AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser().RequireRole(Roles.Admin));
        services.AddExceptionHandler<FailureHandler>();
        // Binding failures throw, so the failure handler names the field in the route's protocol (not an empty 400).
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
        services.AddSingleton<ModelWarmupService>();
        services.AddHostedService(sp => sp.GetRequiredService<ModelWarmupService>());
        services.AddHealthChecks().AddCheck<ModelWarmupService>("models", tags: [HealthApi.ReadyTag]);
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(AiFleetMeter, "Microsoft.Orleans", "System.Runtime")
            .AddAspNetCoreInstrumentation()
            .AddPrometheusExporter());
        return builder;
    }
}
