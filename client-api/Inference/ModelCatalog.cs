using Orleans.AiFleet.ClientApi.Cluster;
using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>
/// client-api's short-lived copy of model descriptors, so the request path answers "unknown model" and metadata
/// without a grain call each time. Entries expire after <see cref="Ttl"/>, so repository changes show up quickly.
/// </summary>
internal sealed class ModelCatalog(IGrainFactory grains, ClusterCalls calls, TimeProvider time)
{
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, (ModelDescriptor? Model, long Expires)> _models = new(StringComparer.Ordinal);

    // Grain references are resolved once: GetGrain reflects over the interface's attributes on every call.
    private readonly IModelRegistryGrain _registry = grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.DefaultKey);

    /// <summary>The repository's index and loader (admin routes).</summary>
    public IModelRegistryGrain Registry => _registry;

    /// <summary>The entry point of the inference path.</summary>
    public IInferenceRouterGrain Router { get; } = grains.GetGrain<IInferenceRouterGrain>(0);

    /// <summary>At most this many names the repository does not know are remembered (a flood of made-up names evicts them).</summary>
    public const int MaxUnknownNames = 1024;

    private readonly UnknownEntries _unknown = new(MaxUnknownNames);

    /// <summary>The model's descriptor, or null when there is none; a name that cannot be a model's is not looked up.</summary>
    public ValueTask<ModelDescriptor?> FindAsync(string name)
    {
        if (!Apis.InputBounds.IsModelName(name))
        {
            return ValueTask.FromResult<ModelDescriptor?>(null);
        }

        var known = _models.TryGetValue(name, out var entry);
        return known && entry.Expires > time.GetTimestamp() ? ValueTask.FromResult(entry.Model) : RefreshAsync(name, known, entry.Model);
    }

    /// <summary>
    /// The model a request names, and the version it names (null: none), or the failure to answer with: an invalid
    /// name (400), no such model or version (404). The check every inference route makes before its one cluster call.
    /// </summary>
    public async ValueTask<(ModelDescriptor Model, string? Version)> ResolveAsync(string model, string? version)
    {
        if (!Apis.InputBounds.IsModelName(model) || (version is not null && !Apis.InputBounds.IsModelName(version)))
        {
            throw AiFleetException.Invalid($"model and version names are at most {Apis.InputBounds.MaxNameLength} letters, digits, '.', '_' or '-'", "model");
        }

        var descriptor = await FindAsync(model) ?? throw AiFleetException.ModelNotFound($"model '{model}' is not in the repository");
        return version is null || descriptor.Versions.Contains(version)
            ? (descriptor, version)
            : throw AiFleetException.NotFound($"model '{model}' has no version '{version}' (it has {string.Join(", ", descriptor.Versions)})");
    }

    private async ValueTask<ModelDescriptor?> RefreshAsync(string name, bool known, ModelDescriptor? last)
    {
        ModelDescriptor? model;
        try
        {
            model = await calls.RunAsync(_ => _registry.GetModelAsync(name));
        }
        catch (Exception) when (known)
        {
            // The registry's silo is failing over: keep answering from the last good entry rather than fail requests.
            return last;
        }

        var until = time.GetTimestamp() + (long)(Ttl.TotalSeconds * time.TimestampFrequency);
        if (model is null && !known)
        {
            _unknown.Add(_models, name, until);
        }
        else
        {
            _models[name] = (model, until);
        }

        return model;
    }

    /// <summary>Drops a model's cached descriptor (its versions changed), so the next request reads it afresh.</summary>
    public void Forget(string name) => _models.TryRemove(name, out _);

    public Task<IReadOnlyList<ModelDescriptor>> ListAsync() => calls.RunAsync(_ => _registry.ListModelsAsync());

    public Task<IReadOnlyList<ModelReadiness>> ReadinessAsync() => calls.RunAsync(_ => _registry.GetReadinessAsync());
}
