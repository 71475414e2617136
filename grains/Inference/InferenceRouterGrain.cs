using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.Concurrency;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Orleans.AiFleet.Grains.Inference;

/// <summary>
/// Resolves the version and hands the request to the less loaded of two random replicas from the fleet's cached
/// routing table, skipping replicas whose circuit is open (<see cref="ReplicaCircuits"/>). Each call goes through
/// its replica's breaker. Inference has no side effects, so a call that fails because of the replica (its silo died
/// or is unreachable, it is unloading, its circuit just opened) is retried on another replica, with jittered
/// backoff. With every circuit open a replica is still tried (a panic mode, as load balancers have): when all
/// replicas look unhealthy the fault is more likely shared and passing, and refusing would make it total. A stateless worker, so it runs on the silo the request arrived at; reentrant
/// because it holds no state of its own and must keep many requests in flight while replicas batch them.
/// </summary>
[StatelessWorker]
[Reentrant]
internal sealed class InferenceRouterGrain(ModelRepository repository, RoutingTableCache tables) : Grain, IInferenceRouterGrain
{
    /// <summary>Transport failures and unloading replicas: the request never ran, or ran without effect.</summary>
    private static readonly ResiliencePipeline Retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder()
                .Handle<OrleansMessageRejectionException>()
                .Handle<SiloUnavailableException>()
                .Handle<ModelUnavailableException>()
                .Handle<BrokenCircuitException>(),
            MaxRetryAttempts = 4,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(20),
            UseJitter = true,
        })
        .Build();

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

        return await Retry.ExecuteAsync(
            static (attempt, ct) => new ValueTask<InferenceResponse>(CallOneAsync(attempt, ct)),
            new Attempt(replicas, request),
            cancellationToken);
    }

    /// <summary>
    /// One try. A retry never goes back to the replica that just failed this request: a replica that fails fast
    /// has few requests in flight, and power of two choices would otherwise keep choosing it until its breaker opens.
    /// </summary>
    private static async Task<InferenceResponse> CallOneAsync(Attempt attempt, CancellationToken cancellationToken)
    {
        var replicas = attempt.Replicas;
        var pick = replicas.Pick(exclude: attempt.Failed);
        var panic = pick < 0;
        if (panic)
        {
            // Every circuit is open. Failing would turn a partial outage (during a failover even healthy replicas can
            // fail lookups for a few seconds) into a full one, so a replica is tried anyway, past its breaker.
            pick = replicas.Count == 1 || attempt.Failed < 0 ? Random.Shared.Next(replicas.Count) : (attempt.Failed + 1) % replicas.Count;
        }

        replicas.Begin(pick);
        try
        {
            return panic
                ? await replicas[pick].InferAsync(attempt.Request, cancellationToken)
                : await replicas.Circuit(pick).Pipeline.ExecuteAsync(
                    static (state, ct) => new ValueTask<InferenceResponse>(state.Replica.InferAsync(state.Request, ct)),
                    (Replica: replicas[pick], attempt.Request),
                    cancellationToken);
        }
        catch (Exception e) when (ReplicaCircuits.IsReplicaFault(e) || e is BrokenCircuitException)
        {
            attempt.Failed = pick;
            throw;
        }
        finally
        {
            replicas.End(pick);
        }
    }

    private sealed class Attempt(RoutingTableCache.ReplicaSet replicas, InferenceRequest request)
    {
        public RoutingTableCache.ReplicaSet Replicas { get; } = replicas;

        public InferenceRequest Request { get; } = request;

        /// <summary>The replica whose call failed on the previous try; -1 before any failure.</summary>
        public int Failed { get; set; } = -1;
    }
}
