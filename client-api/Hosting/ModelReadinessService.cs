using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.ClientApi.Hosting;

/// <summary>
/// /health/ready: healthy once the cluster's registry reports every model version warmed up, or failed with its
/// reason. The silos warm the models themselves at start-up (Grains' SiloModelWarmup); this only watches, asking the
/// registry every 250 ms until then, and stays ready afterwards.
/// </summary>
internal sealed partial class ModelReadinessService(IGrainFactory grains, ILogger<ModelReadinessService> logger) : BackgroundService, IHealthCheck
{
    private volatile IReadOnlyList<ModelReadiness>? _loaded;

    public bool IsReady => _loaded is not null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var registry = grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.DefaultKey);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var readiness = await registry.GetReadinessAsync();
                if (readiness.Count > 0 && readiness.All(r => r.Ready || r.Error is not null))
                {
                    _loaded = readiness;
                    LogReady(logger, readiness.Count(r => r.Ready), readiness.Count);
                    return;
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogWaiting(logger, e.Message);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), stoppingToken);
        }
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_loaded switch
        {
            null => HealthCheckResult.Unhealthy("models are still loading and warming up"),
            var l when l.All(r => r.Ready) => HealthCheckResult.Healthy($"{l.Count} model versions warmed up"),
            var l => HealthCheckResult.Healthy(
                $"{l.Count(r => r.Ready)} of {l.Count} model versions warmed up; failed: " +
                string.Join(", ", l.Where(r => !r.Ready).Select(r => $"{r.Model}/{r.Version}"))),
        });

    [LoggerMessage(Level = LogLevel.Information, Message = "{Ready} of {Count} model versions are warmed up in the cluster")]
    private static partial void LogReady(ILogger logger, int ready, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Waiting for the cluster's model registry: {Error}")]
    private static partial void LogWaiting(ILogger logger, string error);
}
