using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.Concurrency;

namespace Orleans.AiFleet.Grains.Inference;

/// <summary>
/// Resolves the version and hands the request to the less loaded of two random replicas from the fleet's cached
/// routing table. A stateless worker, so
/// it runs on the silo the request arrived at; reentrant because it holds no state of its own and must keep many
/// requests in flight while replicas batch them (a non-reentrant worker would hold one request at a time).
/// </summary>
[StatelessWorker]
[Reentrant]
internal sealed class InferenceRouterGrain(ModelRepository repository, RoutingTableCache tables) : Grain, IInferenceRouterGrain
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

        var replicas = await tables.GetAsync(model.Name, version);
        if (replicas.Count == 0)
        {
            throw new ModelUnavailableException($"model '{model.Name}' version {version} has no replica in rotation; retry");
        }

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
