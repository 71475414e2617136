using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// The router's one path for streamed chats: plan → cache → hold → a replica through its circuit breaker and this
/// silo's in-flight counts → the next model of the chain when one fails or gives no first token in its time → settle
/// in <c>finally</c> at what was delivered. Each chunk is checked against the hold before it is passed on.
/// </summary>
internal sealed class ChatStreamer(IGrainFactory grains, ChatRouter chats, RoutingTableCache tables, ResponseCache cache, InferenceMetrics metrics)
{
    /// <summary>Text decoded within this long of the last event is sent with the next one.</summary>
    public static readonly TimeSpan CoalesceWindow = TimeSpan.FromMilliseconds(4);

    private ResponseCache Cache => cache;

    private InferenceMetrics Metrics => metrics;

    public async IAsyncEnumerable<ChatEvent> StreamAsync(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var plan = await chats.PlanAsync(request);
        var primary = plan.Candidates[0].Model;
        var (cacheKey, cached) = await chats.LookUpAsync(request, plan);
        if (cached is not null)
        {
            yield return new ChatEvent(ChatEvent.Start, Model: primary.Name, Version: primary.DefaultVersion, RouteKind: plan.ReasonKind, Reason: plan.Reason, Cache: "hit");
            yield return new ChatEvent(ChatEvent.Delta, cached.Text);
            yield return new ChatEvent(ChatEvent.End, PromptTokens: cached.PromptTokens, CompletionTokens: cached.CompletionTokens, FinishReason: cached.FinishReason);
            yield break;
        }

        var stream = await OpenAsync(request, plan, cacheKey, cancellationToken);
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
                if (stream.WouldPassHold(chunk))
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
    private async Task<OpenStream> OpenAsync(ChatRequest request, ChatRouter.Plan plan, string? cacheKey, CancellationToken cancellationToken)
    {
        var (kind, reason) = (plan.ReasonKind, plan.Reason);
        var skipped = new List<string>();
        Exception? last = null;
        for (var i = 0; i < plan.Candidates.Count; i++)
        {
            var candidate = plan.Candidates[i];
            var model = candidate.Model;
            var replicas = await tables.GetAsync(model.Name, model.DefaultVersion);
            var pick = replicas.Count == 0 ? -1 : replicas.Pick();
            var panic = pick < 0 && plan.Candidates.Count == 1 && replicas.Count > 0;
            if (panic)
            {
                pick = Random.Shared.Next(replicas.Count); // a model with no alternative: try a replica past its breaker
            }

            if (pick < 0)
            {
                skipped.Add(model.Name);
                continue;
            }

            if (skipped.Count > 0 && last is null)
            {
                (kind, reason) = ("fallback", $"{reason}; passed over {string.Join(", ", skipped)} (no replica admitting calls)");
            }

            var budget = grains.GetGrain<IUserBudgetGrain>(request.User);
            var hold = request.Prepaid
                ? null
                : await budget.ReserveAsync(new ReserveRequest(model.Name, candidate.WorstCase, candidate.PromptTokens + request.MaxTokens, RequestId: ChatRouter.HoldId(request, model)));
            if (hold is { Granted: false })
            {
                throw AiFleetException.OverBudget(hold.RefusedBy!, hold.Message!, hold.RetryAfter);
            }

            var key = i == 0 ? cacheKey : request.Temperature == 0 ? chats.CacheKey(model, request) : null;
            var stream = new OpenStream(this, budget, hold, candidate, replicas, pick, kind, reason, key);
            try
            {
                await stream.StartAsync(request, panic, cancellationToken);
                return stream;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && (ChatRouter.FallsBack(e) || e is OperationCanceledException))
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

    /// <summary>One model's stream: its hold, its replica's in-flight count, the replica's enumerator and what was delivered.</summary>
    private sealed class OpenStream(
        ChatStreamer owner, IUserBudgetGrain budget, ReserveResult? hold, ChatRouter.Candidate candidate,
        RoutingTableCache.ReplicaSet replicas, int pick, string kind, string reason, string? cacheKey)
    {
        private readonly StringBuilder _text = new();
        private IAsyncEnumerator<GenerationChunk>? _chunks;
        private CancellationTokenSource? _firstToken;
        private HoldRenewal? _renewal;
        private bool _ended;

        public RepositoryModel Model => candidate.Model;

        public string Kind => kind;

        public string Reason => reason;

        public string? CacheKey => cacheKey;

        public decimal Held => candidate.WorstCase;

        public GenerationChunk? Current { get; private set; }

        public int PromptTokens { get; private set; }

        public int CompletionTokens { get; private set; }

        public string? FinishReason { get; private set; }

        /// <summary>Starts the replica's stream and waits for its first chunk, within the model's timeout and through the replica's breaker.</summary>
        public async Task StartAsync(ChatRequest request, bool panic, CancellationToken cancellationToken)
        {
            replicas.Begin(pick);
            if (hold is not null)
            {
                _renewal = HoldRenewal.Start(budget, hold.ReservationId); // held while it streams, however long
            }

            _firstToken = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _firstToken.CancelAfter(Model.Config.RequestTimeoutMs);
            var generation = new GenerationRequest(request.Prompt, request.MaxTokens, request.Temperature, request.Seed);
            _chunks = replicas[pick].GenerateAsync(generation, _firstToken.Token).GetAsyncEnumerator(_firstToken.Token);
            var any = panic
                ? await _chunks.MoveNextAsync()
                : await replicas.Circuit(pick).Pipeline.ExecuteAsync(static async (chunks, _) => await chunks.MoveNextAsync(), _chunks, cancellationToken);
            if (!any)
            {
                throw AiFleetException.ModelUnavailable($"model '{Model.Name}' ended its stream before its first token");
            }

            _firstToken.CancelAfter(Timeout.InfiniteTimeSpan); // from the first token on, only the caller stops it
            Current = _chunks.Current;
        }

        public async Task<GenerationChunk?> NextAsync() => await _chunks!.MoveNextAsync() ? _chunks.Current : null;

        /// <summary>True when passing this chunk on would use more than the hold covers.</summary>
        public bool WouldPassHold(GenerationChunk chunk) =>
            hold is not null && Model.Price(chunk.PromptTokens + chunk.CompletionTokens) > candidate.WorstCase;

        public void Deliver(GenerationChunk chunk)
        {
            _text.Append(chunk.Text);
            (PromptTokens, CompletionTokens) = (chunk.PromptTokens, chunk.CompletionTokens);
            FinishReason = chunk.FinishReason ?? FinishReason;
        }

        /// <summary>Stops the replica's stream, leaves its in-flight count, and settles at what was delivered. Once.</summary>
        public async Task<decimal> EndAsync(string outcome, string? stopped)
        {
            if (_ended)
            {
                return 0m;
            }

            _ended = true;
            if (_chunks is not null)
            {
                try
                {
                    await _chunks.DisposeAsync(); // cancels the replica's decoding when it has not finished
                }
                catch (Exception)
                {
                    // The stream already failed; its failure is what the caller sees.
                }
            }

            _firstToken?.Dispose();
            replicas.End(pick);
            if (_renewal is not null)
            {
                await _renewal.DisposeAsync();
            }

            var tokens = PromptTokens + CompletionTokens;
            var cost = tokens == 0 ? 0m : Model.Price(tokens);
            if (hold is not null)
            {
                await budget.SettleAsync(new SettleRequest(hold.ReservationId, cost, tokens, outcome));
            }

            if (outcome == "ok" && stopped is null && cacheKey is not null && FinishReason is not null)
            {
                await owner.Cache.SetAsync(cacheKey, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new CachedChat(_text.ToString(), FinishReason, PromptTokens, CompletionTokens)));
            }

            owner.Metrics.ChatRoute(Model.Name, kind, outcome);
            return cost;
        }
    }
}
