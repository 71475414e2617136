using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Models;
using Orleans.Concurrency;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>
/// The repository's index and loader. Reentrant so readiness can be asked while a long load is warming replicas:
/// each await is followed by one synchronous update of one readiness entry, so interleaving cannot tear state.
/// </summary>
[Reentrant]
internal sealed class ModelRegistryGrain(ModelRepository repository) : Grain, IModelRegistryGrain
{
    private readonly Dictionary<(string Model, string Version), ModelReadiness> _readiness = [];

    public Task<IReadOnlyList<ModelDescriptor>> ListModelsAsync() =>
        Task.FromResult<IReadOnlyList<ModelDescriptor>>(repository.Models.Select(m => m.ToDescriptor()).ToArray());

    public Task<ModelDescriptor?> GetModelAsync(string name) => Task.FromResult(repository.Find(name)?.ToDescriptor());

    public async Task<IReadOnlyList<ModelReadiness>> LoadAllAsync(CancellationToken cancellationToken = default)
    {
        // Each model's fleet warms its versions' replicas and publishes their routing tables.
        var loads = await Task.WhenAll(repository.Models.Select(m => GrainFactory.GetGrain<IModelFleetGrain>(m.Name).EnsureStartedAsync()));
        foreach (var readiness in loads.SelectMany(l => l))
        {
            _readiness[(readiness.Model, readiness.Version)] = readiness;
        }

        return loads.SelectMany(l => l).ToArray();
    }

    public Task<IReadOnlyList<ModelReadiness>> GetReadinessAsync() =>
        Task.FromResult<IReadOnlyList<ModelReadiness>>(repository.Models
            .SelectMany(m => m.Versions.Select(v => Readiness(m, v)))
            .ToArray());

    public async Task UnloadAsync(string model, string version)
    {
        var m = repository.Find(model) ?? throw AiFleetException.ModelNotFound($"model '{model}' is not in the repository");
        if (!m.Versions.Contains(version))
        {
            throw AiFleetException.ModelNotFound($"model '{model}' has no version '{version}'");
        }

        await GrainFactory.GetGrain<IModelFleetGrain>(model).UnloadAsync(version);
        _readiness[(model, version)] = new ModelReadiness(model, version, 0, m.Config.Replicas.MinReplicas, "unloaded");
    }

    public async Task<IReadOnlyList<ModelReadiness>> IndexAsync()
    {
        var fleets = await Task.WhenAll(repository.Models.Select(m => GrainFactory.GetGrain<IModelFleetGrain>(m.Name).GetReadinessAsync()));
        return fleets.SelectMany(f => f)
            .Select(r => r.ReadyReplicas == 0 && r.Error is null && _readiness.GetValueOrDefault((r.Model, r.Version)) is { Error: { } error } ? r with { Error = error } : r)
            .ToArray();
    }

    public async Task<IReadOnlyList<ModelReadiness>> LoadModelAsync(string model)
    {
        var m = Find(model);
        var fleet = GrainFactory.GetGrain<IModelFleetGrain>(model);
        var loaded = new List<ModelReadiness>();
        foreach (var version in m.Versions)
        {
            var readiness = await fleet.LoadAsync(version);
            _readiness[(model, version)] = readiness;
            loaded.Add(readiness);
        }

        return loaded;
    }

    public async Task UnloadModelAsync(string model)
    {
        var m = Find(model);
        await Task.WhenAll(m.Versions.Select(v => UnloadAsync(model, v)));
    }

    private RepositoryModel Find(string model) =>
        repository.Find(model) ?? throw AiFleetException.ModelNotFound($"model '{model}' is not in the repository");

    private ModelReadiness Readiness(RepositoryModel model, string version) =>
        _readiness.GetValueOrDefault((model.Name, version)) ?? new ModelReadiness(model.Name, version, 0, model.Config.Replicas.MinReplicas);
}
