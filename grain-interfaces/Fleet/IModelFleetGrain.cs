using Orleans.AiFleet.GrainInterfaces.Models;
using Orleans.Concurrency;

namespace Orleans.AiFleet.GrainInterfaces.Fleet;

/// <summary>
/// One per model (keyed by its name): owns how many replicas each version runs, decides scaling from the replicas'
/// load reports, and publishes the routing tables that routers cache. Never on the per-request path.
/// </summary>
[Alias("aifleet.IModelFleetGrain")]
public interface IModelFleetGrain : IGrainWithStringKey
{
    /// <summary>Warms every version's replicas up to its desired count and publishes their routing tables.</summary>
    [Alias("EnsureStarted")]
    Task<IReadOnlyList<ModelReadiness>> EnsureStartedAsync();

    /// <summary>The replicas of a version that take traffic.</summary>
    [Alias("GetRoutingTable")]
    Task<RoutingTable> GetRoutingTableAsync(string version);

    /// <summary>
    /// Takes every replica of the version out of rotation and unloads it; the version loads again (at its minimum)
    /// on its next request or start.
    /// </summary>
    [Alias("Unload")]
    Task UnloadAsync(string version);

    /// <summary>A replica's periodic load report.</summary>
    [Alias("ReportLoad"), OneWay]
    Task ReportLoadAsync(string version, ReplicaLoad load);

    /// <summary>A router silo's circuit breaker for one of the replicas changed state.</summary>
    [Alias("ReportCircuit"), OneWay]
    Task ReportCircuitAsync(string version, CircuitReport report);

    /// <summary>Replicas, load and recent scaling events.</summary>
    [Alias("GetStatus")]
    Task<FleetStatus> GetStatusAsync();
}
