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

    /// <summary>The entry point of the inference path.</summary>
    public IInferenceRouterGrain Router { get; } = grains.GetGrain<IInferenceRouterGrain>(0);

    public ValueTask<ModelDescriptor?> FindAsync(string name)
    {
        var known = _models.TryGetValue(name, out var entry);
        return known && entry.Expires > time.GetTimestamp() ? ValueTask.FromResult(entry.Model) : RefreshAsync(name, known, entry.Model);
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

        _models[name] = (model, time.GetTimestamp() + (long)(Ttl.TotalSeconds * time.TimestampFrequency));
        return model;
    }

    public Task<IReadOnlyList<ModelDescriptor>> ListAsync() => calls.RunAsync(_ => _registry.ListModelsAsync());

    public Task<IReadOnlyList<ModelReadiness>> ReadinessAsync() => calls.RunAsync(_ => _registry.GetReadinessAsync());
}
