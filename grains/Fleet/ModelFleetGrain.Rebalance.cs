using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.Core.Internal;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>
/// Spreading replicas again when a silo joins. Placement puts replica i of a version on silo (h + i) mod n of the
/// silos active when it activates, so the replicas warmed while the first silo was alone all sit on it. When the set
/// of active silos gains a member, every replica in rotation is asked to migrate once idle: Orleans runs placement
/// again and leaves a replica that is already where placement wants it; they are asked again every 2 s for 30 s, as a
/// silo's placement may see the new silo later than membership does. A silo leaving moves nothing (the replicas
/// it held are revived elsewhere by the fleet), so a failover does not also reshuffle the survivors.
/// </summary>
internal sealed partial class ModelFleetGrain
{
    /// <summary>How long after a join replicas are asked again: placement on a replica's silo may not see the new silo at once.</summary>
    private static readonly TimeSpan RebalanceFor = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan RebalanceEvery = TimeSpan.FromSeconds(2);

    private HashSet<SiloAddress>? _silos;
    private long _rebalanceSince;
    private long _rebalancedAt;

    /// <summary>The silos active now; at activation, the set the replicas are about to be placed over.</summary>
    private HashSet<SiloAddress> ActiveSilos() => membership.CurrentSnapshot.Members.Values
        .Where(m => m.Status == SiloStatus.Active)
        .Select(m => m.SiloAddress)
        .ToHashSet();

    private async Task RebalanceOnJoinAsync()
    {
        var active = ActiveSilos();
        var joined = _silos is not null && active.Except(_silos).Any();
        _silos = active;
        if (joined)
        {
            _rebalanceSince = _rebalancedAt = Environment.TickCount64; // wall time: placement catches up in real time, whatever clock the fleet decides by
            foreach (var fleet in _versions.Values.Where(f => f.InRotation > 0))
            {
                AskToMigrate(fleet);
                await RecordAsync(fleet.Version, fleet.InRotation, fleet.InRotation, $"a silo joined ({active.Count} active): replicas rebalanced by placement once idle");
            }

            return;
        }

        var now = Environment.TickCount64;
        if (_rebalanceSince != 0 && now - _rebalanceSince < RebalanceFor.TotalMilliseconds && now - _rebalancedAt >= RebalanceEvery.TotalMilliseconds)
        {
            _rebalancedAt = now;
            foreach (var fleet in _versions.Values.Where(f => f.InRotation > 0))
            {
                AskToMigrate(fleet);
            }
        }
    }

    /// <summary>Each replica in rotation re-runs placement once idle; one already where placement wants it stays.</summary>
    private void AskToMigrate(VersionFleet fleet)
    {
        for (var i = 0; i < fleet.InRotation; i++)
        {
            _ = MigrateAsync(GrainFactory.GetGrain<IModelReplicaGrain>(ReplicaKey.Format(_model.Name, fleet.Version, i)));
        }
    }

    private static async Task MigrateAsync(IModelReplicaGrain replica)
    {
        try
        {
            await replica.Cast<IGrainManagementExtension>().MigrateOnIdle();
        }
        catch (Exception)
        {
            // The replica stays where it is; the next join asks again, and routing works wherever it runs.
        }
    }
}
