using System.Collections.Concurrent;
using System.Text;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Polly;
using Polly.CircuitBreaker;
using Polly.Hedging;
using Polly.Retry;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// Non-streamed chats, wholly inside the router: each model tried holds its worst case and settles what it used;
/// jittered retries on other replicas within a timeout per try; the fallback chain and, for latency-critical
/// requests, hedging through one Polly pipeline built once.
/// </summary>
internal sealed partial class ChatRouter
{
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
