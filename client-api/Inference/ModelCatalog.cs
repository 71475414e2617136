using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>
/// client-api's short-lived copy of model descriptors, so the request path answers "unknown model" and metadata
/// without a grain call each time. Entries expire after <see cref="Ttl"/>, so repository changes show up quickly.
/// </summary>
internal sealed class ModelCatalog(IGrainFactory grains, TimeProvider time)
{
    public static readonly TimeSpan Ttl = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, (ModelDescriptor? Model, DateTimeOffset Expires)> _models = new(StringComparer.Ordinal);

    private IModelRegistryGrain Registry => grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.DefaultKey);

    public async ValueTask<ModelDescriptor?> FindAsync(string name)
    {
        if (_models.TryGetValue(name, out var entry) && entry.Expires > time.GetUtcNow())
        {
            return entry.Model;
        }

        var model = await Registry.GetModelAsync(name);
        _models[name] = (model, time.GetUtcNow() + Ttl);
        return model;
    }

    public Task<IReadOnlyList<ModelDescriptor>> ListAsync() => Registry.ListModelsAsync();

    public Task<IReadOnlyList<ModelReadiness>> ReadinessAsync() => Registry.GetReadinessAsync();
}
