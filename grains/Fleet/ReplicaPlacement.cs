using Orleans.Placement;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>Places model replicas: spread over silos, on GPU silos for models that prefer a GPU.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.ReplicaPlacementStrategy")]
public sealed class ReplicaPlacementStrategy : PlacementStrategy
{
    /// <summary>Silo metadata key a silo sets to "true" when it has a GPU for models to use.</summary>
    public const string GpuMetadataKey = "gpu";
}

/// <summary>Marks the model replica grain for <see cref="ReplicaPlacementStrategy"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ReplicaPlacementAttribute() : PlacementAttribute(new ReplicaPlacementStrategy());
