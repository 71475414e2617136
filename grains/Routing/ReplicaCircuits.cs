using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Hosting;
using Polly;
using Polly.CircuitBreaker;
using Polly.Registry;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// This silo's circuit breaker (Polly.Core, in the Polly.Extensions registry) for each replica it routes to, kept by replica key so a breaker
/// outlives routing-table refreshes. A replica whose calls fail in transport or that cannot serve (its silo died,
/// it is unloading, its model failed to load) opens when such failures are half of its calls in the last two seconds (at least four calls); routers
/// then pass it over for <see cref="ResilienceOptions.BreakerBreakMs"/>, after which one trial call decides between closing and
/// opening again. Every transition is logged, counted and reported to the model's fleet, which shows it.
/// Client errors (bad input), back-pressure (a full queue) and request timeouts say nothing about the replica's
/// health and do not count.
/// </summary>
internal sealed partial class ReplicaCircuits(
    IGrainFactory grains,
    InferenceMetrics metrics,
    ILocalSiloDetails silo,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time,
    ResiliencePipelineRegistry<string> registry,
    IOptions<ResilienceOptions> options,
    ILogger<ReplicaCircuits> logger)
{
    public static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, Circuit> _circuits = new(StringComparer.Ordinal);

    public Circuit Get(string replica) => _circuits.GetOrAdd(replica, Create);

    private Circuit Create(string replica)
    {
        ReplicaKey.TryParse(replica, out var model, out var version, out _);
        var circuit = new Circuit(time);
        circuit.Pipeline = registry.GetOrAddPipeline(RoutingPipelines.ReplicaPrefix + replica, builder => Configure(builder, circuit, model, version, replica));
        return circuit;
    }

    private void Configure(ResiliencePipelineBuilder builder, Circuit circuit, string model, string version, string replica)
    {
        var o = options.Value;
        builder.TimeProvider = time;
        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(Faults.IsReplicaFault),
                FailureRatio = o.BreakerFailureRatio,
                MinimumThroughput = o.BreakerMinimumThroughput,
                SamplingDuration = TimeSpan.FromMilliseconds(o.BreakerSamplingMs),
                BreakDuration = TimeSpan.FromMilliseconds(o.BreakerBreakMs),
                StateProvider = circuit.State,
                OnOpened = args =>
                {
                    circuit.OpenedUntil = time.GetUtcNow() + args.BreakDuration;
                    return Transition(model, version, replica, "open", args.Outcome.Exception?.Message);
                },
                OnHalfOpened = _ => Transition(model, version, replica, "half-open", null),
                OnClosed = _ => Transition(model, version, replica, "closed", null),
            });
    }

    private ValueTask Transition(string model, string version, string replica, string state, string? cause)
    {
        LogTransition(logger, replica, state, cause ?? "");
        metrics.CircuitTransition(model, version, state);
        var report = new CircuitReport(replica, silo.SiloAddress.ToString(), state, time.GetUtcNow(), cause);
        _ = ReportAsync(grains.GetGrain<IModelFleetGrain>(model), version, report);
        return ValueTask.CompletedTask;
    }

    private static async Task ReportAsync(IModelFleetGrain fleet, string version, CircuitReport report)
    {
        try
        {
            await fleet.ReportCircuitAsync(version, report);
        }
        catch (Exception)
        {
            // One-way and informational: the breaker works the same whether or not the fleet heard of it.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Circuit of replica {Replica} is {State} {Cause}")]
    private static partial void LogTransition(ILogger logger, string replica, string state, string cause);

    /// <summary>One replica's breaker and whether a router may send it a call now.</summary>
    internal sealed class Circuit(TimeProvider time)
    {
        public CircuitBreakerStateProvider State { get; } = new();

        public ResiliencePipeline Pipeline { get; set; } = ResiliencePipeline.Empty;

        public DateTimeOffset OpenedUntil { get; set; }

        /// <summary>Closed or half-open; or open with its break over, so the next call is the trial.</summary>
        public bool Admits => State.CircuitState switch
        {
            CircuitState.Closed or CircuitState.HalfOpen => true,
            CircuitState.Open => time.GetUtcNow() >= OpenedUntil,
            _ => false,
        };
    }
}
