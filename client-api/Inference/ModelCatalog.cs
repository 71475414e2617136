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

    /// <summary>At most this many names the repository does not know are remembered (a flood of made-up names evicts them).</summary>
    public const int MaxUnknownNames = 1024;

    private int _unknown;

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

        var entry = (model, time.GetTimestamp() + (long)(Ttl.TotalSeconds * time.TimestampFrequency));
        if (model is not null || known)
        {
            _models[name] = entry;
        }
        else if (Interlocked.Increment(ref _unknown) <= MaxUnknownNames)
        {
            _models[name] = entry;
        }
        else
        {
            // Too many made-up names remembered: forget them all (real models are looked up again within a TTL).
            foreach (var (key, value) in _models)
            {
                if (value.Model is null)
                {
                    _models.TryRemove(key, out _);
                }
            }

            Interlocked.Exchange(ref _unknown, 0);
        }

        return model;
    }

    public Task<IReadOnlyList<ModelDescriptor>> ListAsync() => calls.RunAsync(_ => _registry.ListModelsAsync());

    public Task<IReadOnlyList<ModelReadiness>> ReadinessAsync() => calls.RunAsync(_ => _registry.GetReadinessAsync());
}
