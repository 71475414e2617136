using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Models;
using Orleans.AiFleet.Grains.Replicas;
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

    public async Task<ModelReadiness> AddVersionAsync(string model, string version)
    {
        var m = Find(model);
        if (m.IsRemote)
        {
            throw AiFleetException.Invalid($"model '{model}' is served by a remote provider; it has no versions to upload", "model");
        }

        var stored = (await repository.Store.ListAsync(model)).FirstOrDefault(v => v.Version == version)
            ?? throw AiFleetException.NotFound($"model '{model}' has no uploaded version '{version}' in the store", FailureCodes.ModelNotFound, "version");
        var path = await repository.Store.MaterializeAsync(stored)
            ?? throw AiFleetException.NotFound($"model '{model}' version {version}'s file is missing from the store", FailureCodes.ModelNotFound, "version");
        var problem = stored.ConfigJson is { } overrides ? VersionOverrides.Problem(m.Config, overrides) : null;
        var field = problem is null ? "model" : "config";
        if (problem is null && stored.ProfileJson is { } profile && Lifecycle.DriftProfile.Parse(profile) is null)
        {
            field = "profile";
            problem = "'profile' is not a reference profile: {\"input\", \"features\": [{\"name\", \"edges\", \"proportions\"}]} with ascending edges and one proportion more than edges";
        }

        if (problem is null)
        {
            try
            {
                // The same check every replica's session makes: the graph's inputs and outputs against the declared ones.
                using var session = new ModelSession(m.With(new UploadedVersion(stored, path)), version);
            }
            catch (Exception e) when (e is Microsoft.ML.OnnxRuntime.OnnxRuntimeException or InvalidOperationException)
            {
                problem = e.Message;
            }
        }

        if (problem is not null)
        {
            await repository.Store.DeleteAsync(model, version); // refused: nothing of it stays
            throw AiFleetException.Invalid($"version {version} cannot serve model '{model}': {problem}", field);
        }

        repository.Add(new UploadedVersion(stored, path));
        var readiness = await GrainFactory.GetGrain<IModelFleetGrain>(model).AddVersionAsync(version);
        _readiness[(model, version)] = readiness;
        return readiness;
    }

    public async Task DeleteVersionAsync(string model, string version)
    {
        var m = Find(model);
        if (!m.Versions.Contains(version))
        {
            throw AiFleetException.NotFound($"model '{model}' has no version '{version}'", FailureCodes.ModelNotFound, "version");
        }

        if (!m.Uploaded.ContainsKey(version))
        {
            throw AiFleetException.Conflict($"model '{model}' version {version} was shipped with the repository; unload it instead");
        }

        await GrainFactory.GetGrain<IModelFleetGrain>(model).RemoveVersionAsync(version); // refused while it takes traffic
        await repository.Store.DeleteAsync(model, version);
        repository.Remove(model, version);
        _readiness.Remove((model, version));
    }

    private RepositoryModel Find(string model) =>
        repository.Find(model) ?? throw AiFleetException.ModelNotFound($"model '{model}' is not in the repository");

    private ModelReadiness Readiness(RepositoryModel model, string version) =>
        _readiness.GetValueOrDefault((model.Name, version)) ?? new ModelReadiness(model.Name, version, 0, model.Config.Replicas.MinReplicas);
}
