using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.Core.Internal;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>
/// Spreading replicas again when a silo joins. Placement puts replica i of a version on silo (h + i) mod n of the
/// silos active when it activates, so the replicas warmed while the first silo was alone all sit on it. When the set
/// of active silos gains a member, every replica in rotation is asked to migrate once idle: Orleans runs placement
/// again and leaves a replica that is already where placement wants it. A silo leaving moves nothing (the replicas
/// it held are revived elsewhere by the fleet), so a failover does not also reshuffle the survivors.
/// </summary>
internal sealed partial class ModelFleetGrain
{
    private HashSet<SiloAddress>? _silos;

    private async Task RebalanceOnJoinAsync()
    {
        var active = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active)
            .Select(m => m.SiloAddress)
            .ToHashSet();
        var joined = _silos is not null && active.Except(_silos).Any();
        _silos = active;
        if (!joined)
        {
            return;
        }

        foreach (var fleet in _versions.Values.Where(f => f.InRotation > 0))
        {
            for (var i = 0; i < fleet.InRotation; i++)
            {
                _ = MigrateAsync(GrainFactory.GetGrain<IModelReplicaGrain>(ReplicaKey.Format(_model.Name, fleet.Version, i)));
            }

            await RecordAsync(fleet.Version, fleet.InRotation, fleet.InRotation, $"a silo joined ({active.Count} active): replicas rebalanced by placement once idle");
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
