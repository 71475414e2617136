
namespace Orleans.AiFleet.GrainInterfaces.Fleet;

/// <summary>
/// What a replica tells its fleet every ~250 ms: its queue and in-flight requests now, and the mean number in flight
/// since its last report (time spent in the replica by the requests answered, over the interval: a steady measure
/// where the instant count flickers between batches).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ReplicaLoad")]
public sealed record ReplicaLoad(
    [property: Id(0)] string ReplicaId,
    [property: Id(1)] string Silo,
    [property: Id(2)] int QueueLength,
    [property: Id(3)] int InFlight,
    [property: Id(4)] long CompletedRequests,
    [property: Id(5)] long Batches,
    [property: Id(6)] double MeanInFlight = 0);

/// <summary>One decision of the autoscaler.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.ScalingEvent")]
public sealed record ScalingEvent(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string Version,
    [property: Id(2)] int From,
    [property: Id(3)] int To,
    [property: Id(4)] string Reason);

/// <summary>The replicas of a version that take traffic; <see cref="Revision"/> moves on every change.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.RoutingTable")]
public sealed record RoutingTable(
    [property: Id(0)] string Model,
    [property: Id(1)] string Version,
    [property: Id(2)] long Revision,
    [property: Id(3)] IReadOnlyList<string> Replicas,
    [property: Id(4)] VersionFaults? Faults = null);

/// <summary>
/// Faults injected into one version (admin only, off unless set): a share of its requests fail with 503 and every
/// request takes <see cref="ExtraLatencyMs"/> longer. For rehearsing rollouts in staging, and for tests and benchmarks
/// that need a bad version.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.VersionFaults")]
public sealed record VersionFaults(
    [property: Id(0)] double ErrorRate,
    [property: Id(1)] int ExtraLatencyMs)
{
    public const int MaxExtraLatencyMs = 60_000;

    /// <summary>The problems with these values, empty when they can be injected.</summary>
    public IEnumerable<(string Field, string Problem)> Problems()
    {
        if (double.IsNaN(ErrorRate) || ErrorRate is < 0 or > 1)
        {
            yield return ("errorRate", "'errorRate' must be from 0 to 1");
        }

        if (ExtraLatencyMs is < 0 or > MaxExtraLatencyMs)
        {
            yield return ("extraLatencyMs", $"'extraLatencyMs' must be from 0 to {MaxExtraLatencyMs}");
        }
    }
}

/// <summary>One version's replicas as the fleet sees them.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.FleetVersionStatus")]
public sealed record FleetVersionStatus(
    [property: Id(0)] string Version,
    [property: Id(1)] int Desired,
    [property: Id(2)] int MinReplicas,
    [property: Id(3)] int MaxReplicas,
    [property: Id(4)] int TargetInFlightPerReplica,
    [property: Id(5)] IReadOnlyList<string> InRotation,
    [property: Id(6)] IReadOnlyList<ReplicaLoad> Loads,
    [property: Id(7)] IReadOnlyList<CircuitReport> Circuits,
    [property: Id(8)] double ForecastInFlight);

/// <summary>
/// A router silo's circuit breaker for one replica changed state: <c>open</c> (calls skip it), <c>half-open</c>
/// (one trial call) or <c>closed</c> (serving); <see cref="Cause"/> is the failure that opened it.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.CircuitReport")]
public sealed record CircuitReport(
    [property: Id(0)] string ReplicaId,
    [property: Id(1)] string RouterSilo,
    [property: Id(2)] string State,
    [property: Id(3)] DateTimeOffset At,
    [property: Id(4)] string? Cause);

/// <summary>A model's fleet: every version, the recent scaling decisions (newest last), and the silo the fleet grain runs on.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.FleetStatus")]
public sealed record FleetStatus(
    [property: Id(0)] string Model,
    [property: Id(1)] IReadOnlyList<FleetVersionStatus> Versions,
    [property: Id(2)] IReadOnlyList<ScalingEvent> RecentEvents,
    [property: Id(3)] string Silo);
