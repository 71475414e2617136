using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.Storage;

namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>What the store warm-up writes: when this silo last proved it could read and write its grain state.</summary>
[GenerateSerializer, Alias("aifleet.StoreProbeState")]
internal sealed class StoreProbeState
{
    [Id(0)] public DateTimeOffset At { get; set; }
}

/// <summary>
/// Before the silo joins the cluster, one full round trip to its stores: grain state read and written, the ledger
/// read. A fresh silo's first store calls (connection handshake, code paths run once) could pass the store timeout
/// and answer users 503; done here, they delay the start instead, and a silo that cannot reach its stores does not
/// take grains. Retried until <see cref="GiveUpAfter"/>, then the silo starts anyway (its calls fail closed).
/// </summary>
internal sealed partial class StoreWarmup(
    IServiceProvider services, ILocalSiloDetails silo, TimeSpan storeTimeout, ILogger<StoreWarmup> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(60);

    /// <summary>After the storage providers connect (they start at ApplicationServices), before the silo becomes active.</summary>
    public const int Stage = ServiceLifecycleStage.ApplicationServices + 1;

    public void Participate(ISiloLifecycle lifecycle) => lifecycle.Subscribe(nameof(StoreWarmup), Stage, WarmAsync, _ => Task.CompletedTask);

    private async Task WarmAsync(CancellationToken cancellationToken)
    {
        var storage = services.GetRequiredKeyedService<IGrainStorage>(AiFleetStorage.Name);
        var ledger = services.GetRequiredService<ILedgerStore>();
        var probe = GrainId.Create("aifleet-store-probe", silo.SiloAddress.ToParsableString());
        var time = TimeProvider.System; // real time whatever clock the grains run on: this waits for real stores
        var started = time.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var state = new GrainState<StoreProbeState>();
                await storage.ReadStateAsync("probe", probe, state).WaitAsync(storeTimeout * 2, cancellationToken);
                state.State = new StoreProbeState { At = time.GetUtcNow() };
                await storage.WriteStateAsync("probe", probe, state).WaitAsync(storeTimeout * 2, cancellationToken);
                await ledger.ReadAsync("aifleet-store-probe", DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime)).WaitAsync(storeTimeout * 2, cancellationToken);
                LogWarm(logger, attempt, time.GetElapsedTime(started).TotalMilliseconds);
                return;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not OperationCanceledException)
            {
                if (time.GetElapsedTime(started) > GiveUpAfter)
                {
                    LogGaveUp(logger, e, GiveUpAfter.TotalSeconds);
                    return;
                }

                LogRetry(logger, attempt, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(250), time, cancellationToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stores reached before joining the cluster ({Attempts} attempts, {Ms:0} ms)")]
    private static partial void LogWarm(ILogger logger, int attempts, double ms);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stores not reached yet (attempt {Attempt}): {Error}")]
    private static partial void LogRetry(ILogger logger, int attempt, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stores not reached within {Seconds} s: the silo starts anyway and its state calls fail until they are")]
    private static partial void LogGaveUp(ILogger logger, Exception e, double seconds);
}
