using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Polly;
using Polly.CircuitBreaker;
using Polly.Hedging;
using Polly.Retry;
using Polly.Timeout;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// Chat routing on one silo, for the router grain: which models may answer a request, in which order, and running
/// them through Polly.Core. A named model is checked against the caller's user tier and limits. <c>auto</c> takes
/// every chat model of the catalogue that the user's tier allows and that meets the request's quality floor,
/// latency ceiling, model tier, token limit and context, and orders them healthy first, then by the price of the
/// request's worst case, then expected latency, then quality: the first is the cheapest healthy model that
/// satisfies the request, the rest its fallback chain.
/// </summary>
internal sealed class ChatRouter(
    IGrainFactory grains,
    ModelRepository repository,
    RoutingTableCache tables,
    TokenizerCache tokenizers,
    ResponseCache cache,
    InferenceMetrics metrics)
{
    /// <summary>A model that may answer, with what this request would cost on it at most.</summary>
    internal sealed record Candidate(RepositoryModel Model, int PromptTokens, decimal WorstCase);

    /// <summary>The models to try in order, and why the first was chosen.</summary>
    internal sealed record Plan(IReadOnlyList<Candidate> Candidates, string ReasonKind, string Reason);

    private RoutingTableCache Tables => tables;

    private readonly ConcurrentDictionary<string, ResiliencePipeline> _pipelines = new(StringComparer.Ordinal);

    public async Task<Plan> PlanAsync(ChatRequest request)
    {
        if (request.MaxTokens < 1)
        {
            throw AiFleetException.Invalid("'max_tokens' must be at least 1");
        }

        var routing = repository.Routing;
        var userTier = routing.Resolve(request.UserTier);
        if (request.Model != ChatRequest.Auto)
        {
            var model = repository.Find(request.Model)
                ?? throw AiFleetException.ModelNotFound($"model '{request.Model}' is not in the repository");
            if (!model.IsChat)
            {
                throw AiFleetException.Invalid($"model '{model.Name}' is not a chat model (it does not generate text)");
            }

            if (!routing.Allows(userTier, model.Config.Tier))
            {
                throw AiFleetException.ModelNotAllowed($"model '{model.Name}' is in tier '{model.Config.Tier}', which user tier '{userTier}' may not use");
            }

            if (request.MaxTokens > model.MaxNewTokens)
            {
                throw AiFleetException.Invalid($"'max_tokens' must be from 1 to {model.MaxNewTokens} for model '{model.Name}'");
            }

            var prompt = tokenizers.PromptTokens(model, request.Prompt);
            if (model.IsRemote && prompt + request.MaxTokens > model.ContextTokens)
            {
                throw AiFleetException.Invalid(
                    $"the prompt ({prompt} tokens) and 'max_tokens' ({request.MaxTokens}) exceed model '{model.Name}''s context of {model.ContextTokens} tokens");
            }

            // A local generator keeps the end of a prompt longer than its context, as it always has.
            prompt = Math.Min(prompt, model.ContextTokens);
            return new Plan([new Candidate(model, prompt, model.Price(prompt + request.MaxTokens))], "requested", $"model '{model.Name}' was requested");
        }

        var policy = request.Policy ?? new RoutingPolicy();
        if (policy.Tier is { } tier && !routing.Allows(userTier, tier))
        {
            throw AiFleetException.ModelNotAllowed($"tier '{tier}' is not one user tier '{userTier}' may use");
        }

        var matching = new List<Candidate>();
        foreach (var model in repository.Models)
        {
            if (!model.IsChat || !routing.Allows(userTier, model.Config.Tier) || (policy.Tier is { } t && model.Config.Tier != t)
                || model.Config.Quality < (policy.MinQuality ?? 0) || model.Config.P95LatencyMs > (policy.MaxLatencyMs ?? int.MaxValue)
                || request.MaxTokens > model.MaxNewTokens)
            {
                continue;
            }

            var prompt = tokenizers.PromptTokens(model, request.Prompt);
            if (prompt + request.MaxTokens <= model.ContextTokens)
            {
                matching.Add(new Candidate(model, prompt, model.Price(prompt + request.MaxTokens)));
            }
        }

        var constraints = Describe(policy, userTier);
        if (matching.Count == 0)
        {
            throw AiFleetException.Invalid(
                $"no chat model in the catalogue meets {constraints} for this prompt with 'max_tokens' {request.MaxTokens}");
        }

        var health = await Task.WhenAll(matching.Select(c => IsHealthyAsync(c.Model)));
        var ordered = matching.Select((c, i) => (Candidate: c, Healthy: health[i]))
            .OrderByDescending(x => x.Healthy)
            .ThenBy(x => x.Candidate.WorstCase)
            .ThenBy(x => x.Candidate.Model.Config.P95LatencyMs)
            .ThenByDescending(x => x.Candidate.Model.Config.Quality)
            .ThenBy(x => x.Candidate.Model.Name, StringComparer.Ordinal)
            .Take(1 + routing.MaxFallbacks)
            .ToList();
        var unhealthy = health.Count(h => !h);
        var reason = $"cheapest of {matching.Count} model{(matching.Count == 1 ? "" : "s")} meeting {constraints}"
            + (unhealthy > 0 ? $"; {unhealthy} without a healthy replica passed over" : "");
        return new Plan(ordered.Select(x => x.Candidate).ToArray(), "cheapest", reason);
    }

    private static string Describe(RoutingPolicy policy, string userTier)
    {
        var parts = new List<string>();
        if (policy.MinQuality is { } q)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"quality >= {q:0.###}"));
        }

        if (policy.MaxLatencyMs is { } l)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"p95 <= {l} ms"));
        }

        parts.Add(policy.Tier is { } t ? $"tier {t}" : $"user tier {userTier}");
        return string.Join(", ", parts);
    }

    /// <summary>Whether the model has a replica in rotation whose circuit on this silo admits calls.</summary>
    private async Task<bool> IsHealthyAsync(RepositoryModel model)
    {
        try
        {
            var replicas = await tables.GetAsync(model.Name, model.DefaultVersion);
            return replicas.Count > 0 && replicas.Pick() >= 0;
        }
        catch (Exception e) when (ReplicaCircuits.IsReplicaFault(e))
        {
            return false;
        }
    }

    /// <summary>The failures after which another model is worth trying: the model, not the request, is at fault.</summary>
    public static bool FallsBack(Exception e) =>
        InferenceFaults.IsModelFault(e) || e is BrokenCircuitException or TimeoutRejectedException;

    // ---- non-streaming: the whole chat inside the router ----

    public async Task<ChatCompletion> CompleteAsync(ChatRequest request, CancellationToken cancellationToken)
    {
        var plan = await PlanAsync(request);
        var primary = plan.Candidates[0];
        var (cacheKey, cached) = await LookUpAsync(request, plan);
        if (cached is not null)
        {
            return new ChatCompletion(primary.Model.Name, primary.Model.DefaultVersion, cached.Text, cached.FinishReason,
                cached.PromptTokens, cached.CompletionTokens, 0m, plan.ReasonKind, plan.Reason, Cached: true);
        }

        ChatCompletion result;
        if (plan.Candidates.Count == 1)
        {
            result = await AttemptAsync(request, primary, plan.ReasonKind, plan.Reason, alone: true, cancellationToken);
        }
        else
        {
            // Latency-critical (a ceiling): hedge once the first model passes its p95; otherwise only after a failure.
            var delay = request.Policy?.MaxLatencyMs is { } ceiling
                ? TimeSpan.FromMilliseconds(Math.Min(ceiling, primary.Model.Config.P95LatencyMs))
                : Timeout.InfiniteTimeSpan;
            var state = new HedgeState(this, request, plan, delay);
            var context = ResilienceContextPool.Shared.Get(cancellationToken);
            context.Properties.Set(HedgeKey, state);
            try
            {
                result = await Hedging.ExecuteAsync(
                    static async (ctx, s) => await s.Router.AttemptAsync(s.Request, s.Plan.Candidates[0], s.Plan.ReasonKind, s.Plan.Reason, alone: false, ctx.CancellationToken),
                    context,
                    state);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }

        if (cacheKey is not null && result.Model == primary.Model.Name)
        {
            await cache.SetAsync(cacheKey, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(
                new CachedChat(result.Text, result.FinishReason, result.PromptTokens, result.CompletionTokens)));
        }

        return result;
    }

    /// <summary>Fallbacks at most a plan may have.</summary>
    private const int MaxHedgedAttempts = 10; // Polly allows 10 at most; the shipped catalogue has 5 chat models

    private static readonly ResiliencePropertyKey<HedgeState> HedgeKey = new("aifleet.chat-hedge");

    /// <summary>
    /// The fallback chain and hedging of non-streamed chats, built once: each execution carries its plan, request and
    /// delay in a <see cref="HedgeState"/> on the resilience context. A model that fails as a model (not as a request)
    /// hands over to the next of the plan; a latency-critical request also starts the next once the first passes its p95.
    /// </summary>
    private static readonly ResiliencePipeline<ChatCompletion> Hedging = new ResiliencePipelineBuilder<ChatCompletion>()
        .AddHedging(new HedgingStrategyOptions<ChatCompletion>
        {
            MaxHedgedAttempts = MaxHedgedAttempts,
            DelayGenerator = static args => ValueTask.FromResult(args.Context.Properties.GetValue(HedgeKey, null!).Delay),
            ShouldHandle = static args =>
            {
                if (args.Outcome.Exception is { } e && FallsBack(e))
                {
                    args.Context.Properties.GetValue(HedgeKey, null!).Failures.Enqueue($"{e.GetType().Name}: {e.Message}");
                    return ValueTask.FromResult(true);
                }

                return ValueTask.FromResult(false);
            },
            ActionGenerator = static args =>
            {
                var state = args.PrimaryContext.Properties.GetValue(HedgeKey, null!);
                var plan = state.Plan;
                if (args.AttemptNumber >= plan.Candidates.Count)
                {
                    return null;
                }

                var next = plan.Candidates[args.AttemptNumber];
                var previous = plan.Candidates[args.AttemptNumber - 1].Model.Name;
                var (kind, why) = state.Failures.Count >= args.AttemptNumber
                    ? ("fallback", $"fallback to '{next.Model.Name}' after '{previous}' failed ({state.Failures.Last()})")
                    : ("hedge", $"hedge on '{next.Model.Name}': '{previous}' gave no answer within {state.Delay.TotalMilliseconds:0} ms ({plan.Reason})");
                var token = args.ActionContext.CancellationToken;
                return async () =>
                {
                    try
                    {
                        return Outcome.FromResult(await state.Router.AttemptAsync(state.Request, next, kind, why, alone: false, token));
                    }
                    catch (Exception e)
                    {
                        return Outcome.FromException<ChatCompletion>(e);
                    }
                };
            },
        })
        .Build();

    /// <summary>One non-streamed chat's hedging: its plan, request, hedging delay and the failures so far.</summary>
    private sealed class HedgeState(ChatRouter router, ChatRequest request, Plan plan, TimeSpan delay)
    {
        public ChatRouter Router { get; } = router;

        public ChatRequest Request { get; } = request;

        public Plan Plan { get; } = plan;

        public TimeSpan Delay { get; } = delay;

        public ConcurrentQueue<string> Failures { get; } = new();
    }

    /// <summary>A deterministic request (temperature 0) answered before by the plan's first model: its key and answer.</summary>
    internal async Task<(string? Key, CachedChat? Answer)> LookUpAsync(ChatRequest request, Plan plan)
    {
        if (request.Temperature != 0)
        {
            return (null, null);
        }

        var primary = plan.Candidates[0].Model;
        var key = CacheKey(primary, request);
        if (await cache.GetAsync("chat", key) is not { } hit)
        {
            return (key, null);
        }

        // Free, but a request all the same: it counts toward the user's requests per minute.
        var admitted = await grains.GetGrain<IUserBudgetGrain>(request.User).AdmitFreeAsync();
        if (!admitted.Granted)
        {
            throw AiFleetException.OverBudget(admitted.RefusedBy!, admitted.Message!, admitted.RetryAfter);
        }

        metrics.ChatRoute(primary.Name, plan.ReasonKind, "cached");
        return (key, System.Text.Json.JsonSerializer.Deserialize<CachedChat>(hit));
    }

    /// <summary>One hold per request and model tried: a re-sent request finds its hold again rather than take another.</summary>
    internal static string? HoldId(ChatRequest request, RepositoryModel model) =>
        request.RequestId is { } id ? $"{id}/{model.Name}" : null;

    public string CacheKey(RepositoryModel model, ChatRequest request) =>
        ResponseCache.Key("chat", cache.ScopeOf(request.User), model.Name, model.DefaultVersion, request.MaxTokens.ToString(CultureInfo.InvariantCulture), request.Prompt);

    /// <summary>
    /// One model's try: its worst case held on the budget, then retries with jittered backoff on other replicas within
    /// a timeout per try, each call through the replica's circuit breaker; what was used settled at the end.
    /// </summary>
    private async Task<ChatCompletion> AttemptAsync(
        ChatRequest request, Candidate candidate, string reasonKind, string reason, bool alone, CancellationToken cancellationToken)
    {
        var model = candidate.Model;
        var budget = grains.GetGrain<IUserBudgetGrain>(request.User);
        var hold = request.Prepaid
            ? null
            : await budget.ReserveAsync(new ReserveRequest(model.Name, candidate.WorstCase, candidate.PromptTokens + request.MaxTokens, RequestId: HoldId(request, model)));
        if (hold is { Granted: false })
        {
            throw AiFleetException.OverBudget(hold.RefusedBy!, hold.Message!, hold.RetryAfter);
        }

        var state = new TryState(this, model, request, panicAllowed: alone);
        var outcome = "failed";
        var renewal = hold is null ? null : HoldRenewal.Start(budget, hold.ReservationId);
        try
        {
            await Pipeline(model).ExecuteAsync(static (s, ct) => new ValueTask(s.RunAsync(ct)), state, cancellationToken);
            outcome = "ok";
            var cost = model.Price(state.PromptTokens + state.CompletionTokens);
            return new ChatCompletion(model.Name, model.DefaultVersion, state.Text.ToString(), state.FinishReason ?? "length",
                state.PromptTokens, state.CompletionTokens, cost, reasonKind, reason);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = "cancelled";
            throw;
        }
        finally
        {
            metrics.ChatRoute(model.Name, reasonKind, outcome);
            var used = state.UsedTokens;
            if (renewal is not null)
            {
                await renewal.DisposeAsync();
            }

            if (hold is not null)
            {
                await budget.SettleAsync(new SettleRequest(hold.ReservationId, used == 0 ? 0m : model.Price(used), used, outcome));
            }
        }
    }

    /// <summary>Per model: jittered retries (on another replica) around a timeout per try.</summary>
    private ResiliencePipeline Pipeline(RepositoryModel model) => _pipelines.GetOrAdd(model.Name, _ => new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder()
                .Handle<OrleansMessageRejectionException>()
                .Handle<SiloUnavailableException>()
                .Handle<AiFleetException>(e => e.Code is FailureCodes.ModelUnavailable or FailureCodes.Overloaded)
                .Handle<BrokenCircuitException>(),
            MaxRetryAttempts = 2,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(50),
            MaxDelay = TimeSpan.FromSeconds(1),
            UseJitter = true,
        })
        .AddTimeout(TimeSpan.FromMilliseconds(model.Config.RequestTimeoutMs))
        .Build());

    /// <summary>The tries of one model for one request, and what they used.</summary>
    private sealed class TryState(ChatRouter router, RepositoryModel model, ChatRequest request, bool panicAllowed)
    {
        public StringBuilder Text { get; } = new();

        public int PromptTokens { get; private set; }

        public int CompletionTokens { get; private set; }

        public string? FinishReason { get; private set; }

        /// <summary>Tokens used by every try so far, failed ones included (a failed remote call may still be billed).</summary>
        public int UsedTokens => _usedBefore + (_chunks > 0 ? PromptTokens + CompletionTokens : 0);

        private int _usedBefore;
        private int _chunks;
        private int _failed = -1;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            _usedBefore = UsedTokens;
            (_chunks, PromptTokens, CompletionTokens, FinishReason) = (0, 0, 0, null);
            Text.Clear();
            var replicas = await router.Tables.GetAsync(model.Name, model.DefaultVersion);
            if (replicas.Count == 0)
            {
                throw AiFleetException.ModelUnavailable($"model '{model.Name}' has no replica in rotation");
            }

            var pick = replicas.Pick(exclude: _failed);
            var panic = pick < 0;
            if (panic)
            {
                if (!panicAllowed)
                {
                    throw new BrokenCircuitException($"every replica circuit of model '{model.Name}' is open");
                }

                pick = Random.Shared.Next(replicas.Count); // a named model with no alternative: try one anyway
            }

            replicas.Begin(pick);
            try
            {
                var generation = new GenerationRequest(request.Prompt, request.MaxTokens, request.Temperature, request.Seed);
                if (panic)
                {
                    await CollectAsync(replicas[pick], generation, cancellationToken);
                }
                else
                {
                    await replicas.Circuit(pick).Pipeline.ExecuteAsync(
                        static (s, ct) => new ValueTask(s.Self.CollectAsync(s.Replica, s.Generation, ct)),
                        (Self: this, Replica: replicas[pick], Generation: generation),
                        cancellationToken);
                }
            }
            catch (Exception e) when (FallsBack(e))
            {
                _failed = pick;
                throw;
            }
            finally
            {
                replicas.End(pick);
            }
        }

        private async Task CollectAsync(IModelReplicaGrain replica, GenerationRequest generation, CancellationToken cancellationToken)
        {
            await foreach (var chunk in replica.GenerateAsync(generation, cancellationToken).WithCancellation(cancellationToken))
            {
                _chunks++;
                Text.Append(chunk.Text);
                (PromptTokens, CompletionTokens) = (chunk.PromptTokens, chunk.CompletionTokens);
                FinishReason = chunk.FinishReason ?? FinishReason;
            }
        }
    }
}
