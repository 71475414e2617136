using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Replicas;
using Polly;
using Polly.Registry;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// The router's one path for chats, streamed or not: plan → cache → hold → a replica through its circuit breaker and
/// this silo's in-flight counts (another replica when one fails before the first token) → the next model of the chain
/// when a model fails or gives no first token in its time → settle in <c>finally</c> at what was delivered. Each chunk
/// is checked against the hold before it is passed on. A non-streamed chat collects the same stream
/// (<see cref="CompleteAsync"/>), hedged when the caller set a latency ceiling.
/// </summary>
internal sealed partial class ChatExecutor(
    IGrainFactory grains, ChatPlanner planner, RoutingTableCache tables, ResponseCache cache, InferenceMetrics metrics,
    ResiliencePipelineProvider<string> pipelines)
{
    /// <summary>Text decoded within this long of the last event is sent with the next one.</summary>
    public static readonly TimeSpan CoalesceWindow = TimeSpan.FromMilliseconds(4);

    private ChatPlanner Planner => planner;

    private readonly ResiliencePipeline _replicaRetry = pipelines.GetPipeline(RoutingPipelines.ChatReplicaRetry);

    private readonly ResiliencePipeline<ChatCompletion> _fallback = pipelines.GetPipeline<ChatCompletion>(RoutingPipelines.ChatFallback);

    public async IAsyncEnumerable<ChatEvent> StreamAsync(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var plan = await planner.PlanAsync(request);
        var primary = plan.Candidates[0].Model;
        var (cacheKey, cached) = await planner.LookUpAsync(request, plan);
        if (cached is not null)
        {
            yield return new ChatEvent(ChatEvent.Start, Model: primary.Name, Version: primary.DefaultVersion, RouteKind: plan.ReasonKind, Reason: plan.Reason, Cache: "hit");
            yield return new ChatEvent(ChatEvent.Delta, cached.Text);
            yield return new ChatEvent(ChatEvent.End, PromptTokens: cached.PromptTokens, CompletionTokens: cached.CompletionTokens, FinishReason: cached.FinishReason);
            yield break;
        }

        await foreach (var e in RunAsync(request, plan, cacheKey, panicAllowed: plan.Candidates.Count == 1, cancellationToken))
        {
            yield return e;
        }
    }

    /// <summary>
    /// Runs a plan as a stream of events: start (with the first text), deltas, end (tokens, cost, why it stopped).
    /// <paramref name="panicAllowed"/>: with every circuit of the plan's only model open, try a replica anyway.
    /// </summary>
    private async IAsyncEnumerable<ChatEvent> RunAsync(
        ChatRequest request, ChatPlanner.Plan plan, string? cacheKey, bool panicAllowed, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var stream = await OpenAsync(request, plan, cacheKey, panicAllowed, cancellationToken);
        var outcome = "failed";
        string? stopped = null;
        decimal cost = 0;
        try
        {
            // The start carries the first text. After it, text that arrives within CoalesceWindow of the last event
            // goes out together: a fast local model decodes a token in a fraction of a millisecond, and one event per
            // token would cost a grain hop each; a slow provider's tokens still go out one by one, at once.
            var start = new ChatEvent(ChatEvent.Start, Model: stream.Model.Name, Version: stream.Model.DefaultVersion, RouteKind: stream.Kind,
                Reason: stream.Reason, Cache: stream.CacheKey is null ? "bypass" : "miss");
            var pending = new StringBuilder();
            var sentAt = 0L;
            for (var chunk = stream.Current; chunk is not null; chunk = await stream.NextAsync())
            {
                if (chunk.Text.Length > 0 && stream.WouldPassHold(chunk)) // an empty last chunk only carries the provider's usage
                {
                    stopped = $"the answer reached what was held for it ({stream.Held} dollars); it ends here";
                    break;
                }

                stream.Deliver(chunk);
                pending.Append(chunk.Text);
                var done = chunk.FinishReason is not null;
                if (start is not null)
                {
                    yield return start with { Text = pending.ToString() };
                    (start, sentAt) = (null, Stopwatch.GetTimestamp());
                    pending.Clear();
                }
                else if (pending.Length > 0 && (done || Stopwatch.GetElapsedTime(sentAt) >= CoalesceWindow))
                {
                    yield return new ChatEvent(ChatEvent.Delta, pending.ToString());
                    sentAt = Stopwatch.GetTimestamp();
                    pending.Clear();
                }

                if (done)
                {
                    break;
                }
            }

            if (start is not null)
            {
                yield return start; // the first chunk would already have passed the hold: nothing to send but the end
            }

            if (pending.Length > 0)
            {
                yield return new ChatEvent(ChatEvent.Delta, pending.ToString());
            }

            outcome = "ok";
        }
        finally
        {
            cost = await stream.EndAsync(outcome == "ok" ? "ok" : cancellationToken.IsCancellationRequested ? "cancelled" : "failed", stopped);
        }

        yield return new ChatEvent(ChatEvent.End, PromptTokens: stream.PromptTokens, CompletionTokens: stream.CompletionTokens,
            FinishReason: stopped is null ? stream.FinishReason ?? "length" : "length", Cost: cost, Stopped: stopped);
    }

    /// <summary>
    /// Holds and starts the first model of the plan that gives a first token; one that fails (its fault, not the
    /// request's) or gives none in its <c>requestTimeoutMs</c> is settled at nothing and the next is tried.
    /// </summary>
    private async Task<ChatStream> OpenAsync(ChatRequest request, ChatPlanner.Plan plan, string? cacheKey, bool panicAllowed, CancellationToken cancellationToken)
    {
        var (kind, reason) = (plan.ReasonKind, plan.Reason);
        var skipped = new List<string>();
        Exception? last = null;
        for (var i = 0; i < plan.Candidates.Count; i++)
        {
            var candidate = plan.Candidates[i];
            var model = candidate.Model;
            var replicas = await tables.GetAsync(model.Name, model.DefaultVersion);
            if (replicas.Count == 0 || (!panicAllowed && replicas.Pick() < 0))
            {
                skipped.Add(model.Name);
                continue;
            }

            if (skipped.Count > 0 && last is null)
            {
                (kind, reason) = ("fallback", $"{reason}; passed over {string.Join(", ", skipped)} (no replica admitting calls)");
            }

            // Paid from the caller's hold (a saga's, which it keeps open and settles), or held here for this chat alone.
            var hold = request.PaidFrom is { } paid
                ? await grains.GetGrain<IUserBudgetGrain>(request.User).IsOpenAsync(paid) ? null
                    : throw AiFleetException.Conflict($"the hold this chat was to be paid from ({paid}) is no longer open: nothing was run")
                : await BudgetHold.ReserveAsync(grains, request.User, new ReserveRequest(
                    model.Name, candidate.WorstCase, candidate.PromptTokens + request.MaxTokens, RequestId: ChatPlanner.HoldId(request, model), UserTier: request.UserTier, Team: request.Team));

            var key = i == 0 ? cacheKey : request.Temperature == 0 ? planner.CacheKey(model, request) : null;
            var stream = new ChatStream(cache, metrics, hold, candidate, replicas, kind, reason, key);
            try
            {
                await stream.StartAsync(request, panicAllowed, _replicaRetry, cancellationToken);
                return stream;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && (Faults.FallsBack(e) || e is OperationCanceledException))
            {
                await stream.EndAsync("failed", null);
                last = e is OperationCanceledException
                    ? AiFleetException.Timeout($"model '{model.Name}' gave no first token within {model.Config.RequestTimeoutMs} ms")
                    : e;
                (kind, reason) = ("fallback", $"fallback after '{model.Name}' failed ({last.GetType().Name}: {last.Message})");
            }
            catch
            {
                await stream.EndAsync(cancellationToken.IsCancellationRequested ? "cancelled" : "failed", null);
                throw;
            }
        }

        throw last ?? AiFleetException.ModelUnavailable($"no replica of {string.Join(", ", skipped)} is ready; retry");
    }
}
