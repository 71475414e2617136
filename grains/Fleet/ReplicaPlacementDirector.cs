using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.Runtime.Placement;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>
/// Replica i of a model version goes to silo (h + i) mod n over the candidate silos in address order, where h is a
/// stable hash of "model/version": a version's replicas land on different silos while there are enough, and
/// different versions start on different silos. Candidates are the silos whose metadata says gpu=true when the
/// model prefers a GPU and any such silo exists, otherwise every compatible silo. Reads only the silo metadata
/// cache, never calls a grain.
/// </summary>
internal sealed class ReplicaPlacementDirector(IServiceProvider services, ModelRepository repository) : IPlacementDirector
{
    private readonly ISiloMetadataCache? _metadata = services.GetService<ISiloMetadataCache>();

    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target).OrderBy(s => s.ToParsableString(), StringComparer.Ordinal).ToArray();
        var key = target.GrainIdentity.Key.ToString();
        if (!ReplicaKey.TryParse(key, out var model, out var version, out var index))
        {
            return Task.FromResult(silos[Random.Shared.Next(silos.Length)]);
        }

        var candidates = silos;
        if (repository.Find(model)?.Config.Execution.PreferGpu == true)
        {
            var gpu = silos.Where(HasGpu).ToArray();
            candidates = gpu.Length > 0 ? gpu : silos;
        }

        var start = StableHash($"{model}/{version}");
        return Task.FromResult(candidates[(int)((start + (uint)index) % (uint)candidates.Length)]);
    }

    private bool HasGpu(SiloAddress silo) =>
        _metadata?.GetSiloMetadata(silo).Metadata.TryGetValue(ReplicaPlacementStrategy.GpuMetadataKey, out var value) == true
        && string.Equals(value, "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>FNV-1a: the same on every silo and every run, unlike string.GetHashCode.</summary>
    private static uint StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }
}
