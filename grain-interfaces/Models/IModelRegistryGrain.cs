namespace Orleans.AiFleet.GrainInterfaces.Models;

/// <summary>The model repository's index (key "default"): which models and versions exist, and loading them.</summary>
[Alias("aifleet.IModelRegistryGrain")]
public interface IModelRegistryGrain : IGrainWithStringKey
{
    /// <summary>The well-known key of the one registry.</summary>
    const string DefaultKey = "default";

    /// <summary>Every model in the repository.</summary>
    [Alias("ListModels")]
    Task<IReadOnlyList<ModelDescriptor>> ListModelsAsync();

    /// <summary>One model, or null when the repository has no model of that name.</summary>
    [Alias("GetModel")]
    Task<ModelDescriptor?> GetModelAsync(string name);

    /// <summary>Activates and warms every version's replicas; returns once each is ready or has failed.</summary>
    [Alias("LoadAll")]
    Task<IReadOnlyList<ModelReadiness>> LoadAllAsync(CancellationToken cancellationToken = default);

    /// <summary>The readiness of every model version as last loaded or unloaded.</summary>
    [Alias("GetReadiness")]
    Task<IReadOnlyList<ModelReadiness>> GetReadinessAsync();

    /// <summary>Drains and deactivates one version's replicas; its session is freed when the last one goes.</summary>
    [Alias("Unload")]
    Task UnloadAsync(string model, string version);

    /// <summary>The repository index: every version of every model, ready or not and why, as the fleets see it now.</summary>
    [Alias("Index")]
    Task<IReadOnlyList<ModelReadiness>> IndexAsync();

    /// <summary>Loads every version of a model through its fleet (warmed before it takes traffic).</summary>
    [Alias("LoadModel")]
    Task<IReadOnlyList<ModelReadiness>> LoadModelAsync(string model);

    /// <summary>Unloads every version of a model through its fleet (drained first; sessions freed).</summary>
    [Alias("UnloadModel")]
    Task UnloadModelAsync(string model);

    /// <summary>
    /// Takes a version an admin uploaded into the store: checks it against the model's declared inputs and outputs
    /// (a version that does not fit is deleted from the store and refused), adds it, and warms it through the fleet.
    /// </summary>
    [Alias("AddVersion")]
    Task<ModelReadiness> AddVersionAsync(string model, string version);

    /// <summary>Deletes an uploaded version; a conflict while it takes traffic (default, split or shadow) or when it was shipped.</summary>
    [Alias("DeleteVersion")]
    Task DeleteVersionAsync(string model, string version);
}
