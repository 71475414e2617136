using Microsoft.Extensions.Logging;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>
/// The silo's own start-up task: once the silo is active, every model version is loaded and warmed through the
/// registry (each model's fleet places and warms its replicas), retried while the cluster is not reachable yet.
/// Every silo runs it; the loads are idempotent, so the first does the work and the rest find it done. It does not
/// hold up the silo's start; client-api turns ready when the registry reports every version warmed (or failed).
/// </summary>
internal sealed partial class SiloModelWarmup(IGrainFactory grains, ILogger<SiloModelWarmup> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _run;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SiloModelWarmup), ServiceLifecycleStage.Active, OnStartAsync, OnStopAsync);

    private Task OnStartAsync(CancellationToken cancellationToken)
    {
        _run = Task.Run(() => WarmAsync(_stopping.Token));
        return Task.CompletedTask;
    }

    private async Task OnStopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_run is not null)
        {
            await _run.WaitAsync(cancellationToken).ContinueWith(static _ => { }, TaskScheduler.Default); // its outcome was logged
        }
    }

    private async Task WarmAsync(CancellationToken stopping)
    {
        var registry = grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.DefaultKey);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                foreach (var r in await registry.LoadAllAsync(stopping))
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

                return;
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                LogRetry(logger, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(1), stopping).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model} version {Version} is ready: {Replicas} replicas warmed up")]
    private static partial void LogReady(ILogger logger, string model, string version, int replicas);

    [LoggerMessage(Level = LogLevel.Error, Message = "Model {Model} version {Version} is not ready: {Error}")]
    private static partial void LogNotReady(ILogger logger, string model, string version, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model warm-up is waiting for the cluster: {Error}")]
    private static partial void LogRetry(ILogger logger, string error);
}
