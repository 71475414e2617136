using Orleans.AiFleet.GrainInterfaces.Lifecycle;
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
    /// Takes every replica of the version out of rotation, lets them drain, then unloads them (their session is freed
    /// with the last). The version stays unloaded, across restarts, and answers 503 until it is loaded again.
    /// </summary>
    [Alias("Unload")]
    Task UnloadAsync(string version);

    /// <summary>Loads a version: warms its replicas (to its minimum) before they enter the routing table.</summary>
    [Alias("Load")]
    Task<ModelReadiness> LoadAsync(string version);

    /// <summary>Takes in a version uploaded since the fleet started, and warms it.</summary>
    [Alias("AddVersion")]
    Task<ModelReadiness> AddVersionAsync(string version);

    /// <summary>Unloads a deleted version and forgets it.</summary>
    [Alias("RemoveVersion")]
    Task RemoveVersionAsync(string version);

    /// <summary>Injects faults into a version, or (null) stops injecting them; routers apply them at their next refresh.</summary>
    [Alias("SetFaults")]
    Task SetFaultsAsync(string version, VersionFaults? faults);

    /// <summary>The model's traffic policy: its default version, split and shadow.</summary>
    [Alias("GetPolicy")]
    Task<TrafficPolicy> GetPolicyAsync();

    /// <summary>
    /// Replaces the traffic policy (its revision is the fleet's to set). Every version it names must exist and be
    /// loaded. While an experiment owns the policy only that experiment (<paramref name="experiment"/>) may change it.
    /// </summary>
    [Alias("SetPolicy")]
    Task<TrafficPolicy> SetPolicyAsync(TrafficPolicy policy, string? experiment = null);

    /// <summary>Each version's replicas in rotation and wanted, or "unloaded".</summary>
    [Alias("GetReadiness")]
    Task<IReadOnlyList<ModelReadiness>> GetReadinessAsync();

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
