using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.ClientApi.Hosting;

/// <summary>
/// Loads and warms every model version once the cluster answers; /health/ready turns healthy only after that.
/// Retries while the cluster is not reachable yet; a version that fails to load is reported, not retried forever.
/// </summary>
internal sealed partial class ModelWarmupService(IGrainFactory grains, ILogger<ModelWarmupService> logger) : BackgroundService, IHealthCheck
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
                var loaded = await registry.LoadAllAsync(stoppingToken);
                foreach (var r in loaded)
                {
                    if (r.Ready)
                    {
                        LogReady(logger, r.Model, r.Version, r.ReadyReplicas);
                    }
                    else
                    {
                        LogNotReady(logger, r.Model, r.Version, r.Error ?? "replicas did not warm up");
                    }
                }

                _loaded = loaded;
                return;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogRetry(logger, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model} version {Version} is ready: {Replicas} replicas warmed up")]
    private static partial void LogReady(ILogger logger, string model, string version, int replicas);

    [LoggerMessage(Level = LogLevel.Error, Message = "Model {Model} version {Version} is not ready: {Error}")]
    private static partial void LogNotReady(ILogger logger, string model, string version, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model warm-up is waiting for the cluster: {Error}")]
    private static partial void LogRetry(ILogger logger, string error);
}
