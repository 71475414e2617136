using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>What a fleet keeps across restarts: each version's desired replica count and the recent decisions.</summary>
[GenerateSerializer, Alias("aifleet.ModelFleetState")]
public sealed class ModelFleetState
{
    [Id(0)]
    public Dictionary<string, int> Desired { get; set; } = [];

    [Id(1)]
    public List<ScalingEvent> Events { get; set; } = [];

    /// <summary>Versions an operator unloaded: they take no traffic and stay unloaded, across restarts, until loaded.</summary>
    [Id(2)]
    public HashSet<string> Unloaded { get; set; } = [];

    /// <summary>Faults an operator injected, by version.</summary>
    [Id(3)]
    public Dictionary<string, VersionFaults> Faults { get; set; } = [];

    /// <summary>The traffic policy an operator or an experiment set; null until one did (all traffic to the default).</summary>
    [Id(4)]
    public TrafficPolicy? Policy { get; set; }
}
