using System.Diagnostics;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Lifecycle;
using Orleans.AiFleet.Grains.Models;
using Orleans.Concurrency;
using Polly;
using Polly.CircuitBreaker;
using Polly.Registry;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// Resolves the version and hands the request to the less loaded of two random replicas from the fleet's cached
/// routing table, skipping replicas whose circuit is open (<see cref="ReplicaCircuits"/>). Each call goes through
/// its replica's breaker. Inference has no side effects, so a call that fails because of the replica (its silo died
/// or is unreachable, it is unloading, its circuit just opened) is retried on another replica, with jittered
/// backoff. With every circuit open a replica is still tried (a panic mode, as load balancers have): when all
/// replicas look unhealthy the fault is more likely shared and passing, and refusing would make it total. A stateless worker, so it runs on the silo the request arrived at; reentrant
/// because it holds no state of its own and must keep many requests in flight while replicas batch them.
/// </summary>
// One activation per silo: Orleans delivers a call's cancellation to "the" activation of the grain, and with several
// local activations of a stateless worker it may reach one that is not running the call, so a client's hang-up
// never reached the replica's queue. Reentrant, so one activation keeps many requests in flight.
[StatelessWorker(1)]
[Reentrant]
internal sealed partial class InferenceRouterGrain(
    ModelRepository repository, RoutingTableCache tables, TokenizerCache tokenizers, ResponseCache cache, ChatPlanner planner, ChatExecutor chats, Budgets.BudgetLeases leases,
    TrafficPolicyCache policies, LifecycleCollector lifecycle, InferenceMetrics metrics, ResiliencePipelineProvider<string> pipelines)
    : Grain, IInferenceRouterGrain
{
    /// <summary>Retries on another replica after a replica fault (<see cref="RoutingPipelines.InferRetry"/>).</summary>
    private readonly ResiliencePipeline _retry = pipelines.GetPipeline(RoutingPipelines.InferRetry);

    public async Task<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken = default)
    {
        var model = repository.Find(request.Model)
            ?? throw AiFleetException.ModelNotFound($"model '{request.Model}' is not in the repository");
        if (model.IsRemote)
        {
            throw AiFleetException.Invalid($"model '{model.Name}' is a remote chat model; use POST /v1/chat/completions");
        }

        // A version named by the caller bypasses the traffic policy; otherwise the policy picks (a user stays in one arm).
        var policy = await policies.GetAsync(model.Name);
        var version = string.IsNullOrEmpty(request.Version) ? policy.Choose(model.Name, request.User) : request.Version;
        model = await WithVersionAsync(model, version);

        using var span = AiFleetTracing.Source.StartActivity("router.infer");
        span?.SetTag("aifleet.model", model.Name);
        span?.SetTag("aifleet.version", version);
        span?.SetTag("aifleet.version.chosen_by", string.IsNullOrEmpty(request.Version) ? policy.Split.Count > 0 ? "split" : "default" : "request");
        var replicas = await tables.GetAsync(model.Name, version);
        if (replicas.Count == 0)
        {
            throw AiFleetException.ModelUnavailable($"model '{model.Name}' version {version} has no replica in rotation; retry");
        }

        if (request.User is not { } user)
        {
            return await RunAsync(replicas, request, cancellationToken); // the cluster's own calls: warm-up, embeddings (charged there)
        }

        // A user's KServe call: the model's tier must be one theirs may use, and it is charged per row at the model's
        // cost from this silo's slice of their budget (no budget call per request); a call that fails is refunded.
        if (!repository.Routing.Allows(request.UserTier, model.Config.Tier))
        {
            throw AiFleetException.ModelNotAllowed($"model '{model.Name}' is in tier '{model.Config.Tier}', which user tier '{repository.Routing.Resolve(request.UserTier)}' may not use");
        }

        request = request with
        {
            Priority = repository.Routing.Lane(request.UserTier, request.Priority), // the lane the tier allows, or a lower one asked for
        };
        if (!leases.Enabled)
        {
            return await ServeAsync(replicas, request, user, policy, cancellationToken);
        }

        var cost = model.Price(request);
        var lease = await leases.ChargeAsync(user, request.UserTier, request.Team, model.Name, cost);
        try
        {
            return await ServeAsync(replicas, request, user, policy, cancellationToken);
        }
        catch
        {
            leases.Refund(user, request.UserTier, request.Team, model.Name, lease, cost);
            throw;
        }
    }

    /// <summary>
    /// A user's request: run, counted for its version (requests, errors, latency), its answer remembered for
    /// feedback, and when the policy mirrors it, sent to the shadow version as well, off the user's path. A request
    /// that named its version is counted and remembered as pinned: the policy did not route it, so neither it nor
    /// feedback on it counts in an experiment's arms (one user could otherwise pick the arm and label it at will).
    /// </summary>
    private async Task<InferenceResponse> ServeAsync(
        RoutingTableCache.ReplicaSet replicas, InferenceRequest request, string user, TrafficPolicy policy, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var pinned = !string.IsNullOrEmpty(request.Version);
        InferenceResponse response;
        try
        {
            response = await RunAsync(replicas, request, cancellationToken);
        }
        catch (Exception e) when (Faults.CountsAgainstVersion(e, cancellationToken))
        {
            Served(request.Model, replicas.Version, pinned, failed: true, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            throw;
        }

        Served(request.Model, replicas.Version, pinned, failed: false, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        // Every answer can be judged by feedback, under an id of the server's own: the client's id is theirs to echo,
        // never a key kept in memory.
        response = response with { RequestId = NewRequestId() };
        lifecycle.Answered(request.Model, user, response.RequestId, replicas.Version, pinned, response.Outputs);
        if (policy.Shadow is { } shadow && shadow.Version != replicas.Version && policy.Mirrors())
        {
            _ = MirrorAsync(request with { Version = shadow.Version, User = null, Priority = Priority.Low }, response);
        }

        return response;
    }

    private void Served(string model, string version, bool pinned, bool failed, double ms)
    {
        lifecycle.Served(model, version, pinned, failed, ms);
        metrics.Served(model, version, failed, ms);
    }

    /// <summary>
    /// Runs a copy of a user's request on the shadow version and compares the answers. Never charged (no user),
    /// never shown, never awaited by the user's request; a failure is only counted.
    /// </summary>
    private async Task MirrorAsync(InferenceRequest copy, InferenceResponse answered)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var replicas = await tables.GetAsync(copy.Model, copy.Version!);
            var shadow = await RunAsync(replicas, copy, CancellationToken.None);
            lifecycle.Mirrored(copy.Model, copy.Version!, failed: false, Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                Lifecycle.Predictions.Agree(answered.Outputs, shadow.Outputs));
        }
        catch (Exception)
        {
            lifecycle.Mirrored(copy.Model, copy.Version!, failed: true, Stopwatch.GetElapsedTime(started).TotalMilliseconds, agreed: null);
        }
    }

    /// <summary>The model, once this silo knows <paramref name="version"/> (one uploaded elsewhere is looked up in the store).</summary>
    private async ValueTask<RepositoryModel> WithVersionAsync(RepositoryModel model, string version)
    {
        if (model.Versions.Contains(version))
        {
            return model;
        }

        await repository.RefreshAsync(model.Name);
        model = repository.Find(model.Name) ?? model;
        return model.Versions.Contains(version)
            ? model
            : throw AiFleetException.ModelNotFound($"model '{model.Name}' has no version '{version}' (it has {string.Join(", ", model.Versions)})");
    }

    private static string NewRequestId() => Guid.NewGuid().ToString("N");

    private async Task<InferenceResponse> RunAsync(RoutingTableCache.ReplicaSet replicas, InferenceRequest request, CancellationToken cancellationToken)
    {
        if (replicas.Faults is { } faults)
        {
            await FaultInjection.ApplyAsync(faults, request.Model, replicas.Version, cancellationToken);
        }

        return await _retry.ExecuteAsync(
            static (attempt, ct) => new ValueTask<InferenceResponse>(CallOneAsync(attempt, ct)),
            new Attempt(replicas, request),
            cancellationToken);
    }

    /// <summary>Inferences in a request: its rows when the model batches (dimension 0), else one.</summary>

    public async Task<decimal> EstimateChatAsync(ChatRequest request) =>
        (await planner.PlanAsync(request)).Candidates.Max(c => c.WorstCase);

    public Task<ChatCompletion> CompleteChatAsync(ChatRequest request, CancellationToken cancellationToken = default) =>
        chats.CompleteAsync(request, cancellationToken);

    /// <summary>
    /// One try. A retry never goes back to the replica that just failed this request: a replica that fails fast
    /// has few requests in flight, and power of two choices would otherwise keep choosing it until its breaker opens.
    /// </summary>
    private static async Task<InferenceResponse> CallOneAsync(Attempt attempt, CancellationToken cancellationToken)
    {
        var replicas = attempt.Replicas;
        var pick = ReplicaChoice.Pick(replicas, attempt.Failed, panicAllowed: true, out var panic);

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
        catch (Exception e) when (Faults.IsReplicaFault(e) || e is BrokenCircuitException)
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
