using Microsoft.AspNetCore.Diagnostics.HealthChecks;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>Kubernetes-style probes: live while the process runs, ready once the models have warmed up.</summary>
internal static class HealthApi
{
    public const string ReadyTag = "ready";

    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag) }).AllowAnonymous();
        return app;
    }
}
