using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.Concurrency;

namespace Orleans.AiFleet.Grains.Inference;

/// <summary>
/// Resolves the version and hands the request to the least loaded of two random replicas. A stateless worker, so
/// it runs on the silo the request arrived at; reentrant because it holds no state of its own and must keep many
/// requests in flight while replicas batch them (a non-reentrant worker would hold one request at a time).
/// </summary>
[StatelessWorker]
[Reentrant]
internal sealed class InferenceRouterGrain(ModelRepository repository, ReplicaLoadTracker load) : Grain, IInferenceRouterGrain
{
    public async Task<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken = default)
    {
        var model = repository.Find(request.Model)
            ?? throw new ModelNotFoundException($"model '{request.Model}' is not in the repository");
        var version = string.IsNullOrEmpty(request.Version) ? model.DefaultVersion : request.Version;
        if (!model.Versions.Contains(version))
        {
            throw new ModelNotFoundException($"model '{model.Name}' has no version '{version}' (it has {string.Join(", ", model.Versions)})");
        }

        var replicas = load.Get(model.Name, version, model.Config.Replicas.MinReplicas);
        var pick = replicas.Pick();
        replicas.Begin(pick);
        try
        {
            return await replicas[pick].InferAsync(request, cancellationToken);
        }
        finally
        {
            replicas.End(pick);
        }
    }
}
