using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.Core.Internal;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>
/// Spreading replicas again when they sit unevenly. Placement puts replica i of a version on silo (h + i) mod n of the
/// silos it sees when the replica activates, so replicas warmed while the first silo was alone (or before a silo's
/// arrival reached placement) all sit on it. Every 2 s the fleet counts each version's replicas per candidate silo
/// (every active silo, or the GPU silos for a model that prefers one) from their load reports; when one silo holds at
/// least two more than another, the replicas on the fullest are asked to migrate once idle, and Orleans runs
/// placement again (a replica already where placement wants it stays). A silo leaving leaves nothing uneven among
/// the survivors that placement would change, so a failover does not reshuffle them.
/// </summary>
internal sealed partial class ModelFleetGrain
{
    private static readonly TimeSpan RebalanceEvery = TimeSpan.FromSeconds(2);

    private long _rebalancedAt;
    private long _rebalanceRecordedAt = long.MinValue / 2;

    private async Task RebalanceIfUnevenAsync()
    {
        var now = Environment.TickCount64; // wall time: placement catches up in real time, whatever clock the fleet decides by
        if (now - _rebalancedAt < RebalanceEvery.TotalMilliseconds)
        {
            return;
        }

        _rebalancedAt = now;
        var candidates = Candidates();
        if (candidates.Count < 2)
        {
            return;
        }

        foreach (var fleet in _versions.Values.Where(f => f.InRotation > 1))
        {
            var where = new Dictionary<string, List<int>>(StringComparer.Ordinal);
            foreach (var silo in candidates)
            {
                where[silo] = [];
            }

            for (var i = 0; i < fleet.InRotation; i++)
            {
                if (fleet.Loads.TryGetValue(ReplicaKey.Format(_model.Name, fleet.Version, i), out var report)
                    && time.GetElapsedTime(report.At) < ReportsStaleAfter
                    && where.TryGetValue(report.Load.Silo, out var on))
                {
                    on.Add(i);
                }
            }

            var fullest = where.MaxBy(kv => kv.Value.Count);
            var emptiest = where.MinBy(kv => kv.Value.Count);
            if (fullest.Value.Count - emptiest.Value.Count < 2)
            {
                continue;
            }

            foreach (var i in fullest.Value)
            {
                _ = MigrateAsync(GrainFactory.GetGrain<IModelReplicaGrain>(ReplicaKey.Format(_model.Name, fleet.Version, i)));
            }

            if (now - _rebalanceRecordedAt >= 30_000)
            {
                _rebalanceRecordedAt = now;
                await RecordAsync(fleet.Version, fleet.InRotation, fleet.InRotation,
                    $"replicas uneven: {fullest.Value.Count} on {fullest.Key}, {emptiest.Value.Count} on {emptiest.Key}; asked to move by placement once idle");
            }
        }
    }

    /// <summary>The silos placement may choose for this model: the active ones, only those with a GPU when it prefers one and one has.</summary>
    private List<string> Candidates()
    {
        var active = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToList();
        if (_model.Config.Execution.PreferGpu && ServiceProvider.GetService<ISiloMetadataCache>() is { } metadata)
        {
            var gpu = active.Where(s => metadata.GetSiloMetadata(s).Metadata.TryGetValue(ReplicaPlacementStrategy.GpuMetadataKey, out var v)
                && string.Equals(v, "true", StringComparison.OrdinalIgnoreCase)).ToList();
            active = gpu.Count > 0 ? gpu : active;
        }

        return active.Select(s => s.ToString()).ToList();
    }

    private static async Task MigrateAsync(IModelReplicaGrain replica)
    {
        try
        {
            await replica.Cast<IGrainManagementExtension>().MigrateOnIdle();
        }
        catch (Exception)
        {
            // The replica stays where it is; the next check asks again, and routing works wherever it runs.
        }
    }
}
