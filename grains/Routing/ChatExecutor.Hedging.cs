using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Polly;
using Polly.Hedging;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// Non-streamed chats collect the same stream as streamed ones. With more than one model in the plan, the fallback
/// chain and, for latency-critical requests, hedging run through one registered Polly pipeline
/// (<see cref="RoutingPipelines.ChatFallback"/>): each attempt is a plan of one model.
/// </summary>
internal sealed partial class ChatExecutor
{
    public async Task<ChatCompletion> CompleteAsync(ChatRequest request, CancellationToken cancellationToken)
    {
        var plan = await planner.PlanAsync(request);
        var primary = plan.Candidates[0];
        var (cacheKey, cached) = await planner.LookUpAsync(request, plan);
        if (cached is not null)
        {
            return new ChatCompletion(primary.Model.Name, primary.Model.DefaultVersion, cached.Text, cached.FinishReason,
                cached.PromptTokens, cached.CompletionTokens, 0m, plan.ReasonKind, plan.Reason, Cached: true);
        }

        if (plan.Candidates.Count == 1)
        {
            return await CollectAsync(RunAsync(request, plan, cacheKey, panicAllowed: true, cancellationToken));
        }

        // Latency-critical (a ceiling): hedge once the first model passes its p95; otherwise only after a failure.
        var delay = request.Policy?.MaxLatencyMs is { } ceiling
            ? TimeSpan.FromMilliseconds(Math.Min(ceiling, primary.Model.Config.P95LatencyMs))
            : Timeout.InfiniteTimeSpan;
        var state = new HedgeState(this, request, plan, cacheKey, delay);
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        context.Properties.Set(HedgeKey, state);
        try
        {
            return await _fallback.ExecuteAsync(
                static (ctx, s) => new ValueTask<ChatCompletion>(s.AttemptAsync(0, s.Plan.ReasonKind, s.Plan.Reason, ctx.CancellationToken)),
                context,
                state);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>A whole answer from a plan's events.</summary>
    private static async Task<ChatCompletion> CollectAsync(IAsyncEnumerable<ChatEvent> events)
    {
        var text = new System.Text.StringBuilder();
        ChatEvent? start = null;
        await foreach (var e in events)
        {
            start ??= e.Kind == ChatEvent.Start ? e : null;
            text.Append(e.Text);
            if (e.Kind == ChatEvent.End)
            {
                return new ChatCompletion(start!.Model, start.Version, text.ToString(), e.FinishReason ?? "length", e.PromptTokens,
                    e.CompletionTokens, e.Cost, start.RouteKind, start.Reason, Stopped: e.Stopped);
            }
        }

        throw new InvalidOperationException("a chat's events ended without an end event");
    }

    /// <summary>Fallbacks at most a plan may have.</summary>
    internal const int MaxHedgedAttempts = 10; // Polly allows 10 at most; the shipped catalogue has 5 chat models

    private static readonly ResiliencePropertyKey<HedgeState> HedgeKey = new("aifleet.chat-hedge");

    /// <summary>
    /// The options of <see cref="RoutingPipelines.ChatFallback"/>: each execution carries its plan, request and delay
    /// in a <see cref="HedgeState"/> on the resilience context. A model that fails as a model (not as a request) hands
    /// over to the next of the plan; a latency-critical request also starts the next once the first passes its p95.
    /// </summary>
    internal static HedgingStrategyOptions<ChatCompletion> FallbackOptions() => new()
    {
        MaxHedgedAttempts = MaxHedgedAttempts,
        DelayGenerator = static args => ValueTask.FromResult(args.Context.Properties.GetValue(HedgeKey, null!).Delay),
        ShouldHandle = static args =>
        {
            if (args.Outcome.Exception is { } e && Faults.FallsBack(e))
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
            var n = args.AttemptNumber;
            if (n >= plan.Candidates.Count)
            {
                return null;
            }

            var next = plan.Candidates[n].Model.Name;
            var previous = plan.Candidates[n - 1].Model.Name;
            var (kind, why) = state.Failures.Count >= n
                ? ("fallback", $"fallback to '{next}' after '{previous}' failed ({state.Failures.Last()})")
                : ("hedge", $"hedge on '{next}': '{previous}' gave no answer within {state.Delay.TotalMilliseconds:0} ms ({plan.Reason})");
            var token = args.ActionContext.CancellationToken;
            return async () =>
            {
                try
                {
                    return Outcome.FromResult(await state.AttemptAsync(n, kind, why, token));
                }
                catch (Exception e)
                {
                    return Outcome.FromException<ChatCompletion>(e);
                }
            };
        },
    };

    /// <summary>One non-streamed chat's hedging: its plan, request, hedging delay and the failures so far.</summary>
    private sealed class HedgeState(ChatExecutor executor, ChatRequest request, ChatPlanner.Plan plan, string? cacheKey, TimeSpan delay)
    {
        public ChatPlanner.Plan Plan { get; } = plan;

        public TimeSpan Delay { get; } = delay;

        public ConcurrentQueue<string> Failures { get; } = new();

        /// <summary>The plan's <paramref name="index"/>th model alone, collected: no panic, so a model with every circuit open hands over.</summary>
        public Task<ChatCompletion> AttemptAsync(int index, string kind, string why, CancellationToken cancellationToken)
        {
            var candidate = Plan.Candidates[index];
            var key = index == 0 ? cacheKey : request.Temperature == 0 ? executor.Planner.CacheKey(candidate.Model, request) : null;
            var one = new ChatPlanner.Plan([candidate], kind, why);
            return CollectAsync(executor.RunAsync(request, one, key, panicAllowed: false, cancellationToken));
        }
    }
}
