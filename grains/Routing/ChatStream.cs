using System.Text;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.AiFleet.Grains.Replicas;
using Polly;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// One model's stream for a chat: its hold, its replica's in-flight count, the replica's enumerator and what was
/// delivered; settled (and cached when complete) at its end. The chat executor opens one per model it tries.
/// </summary>
internal sealed class ChatStream(
    ResponseCache cache, InferenceMetrics metrics, BudgetHold? hold, ChatPlanner.Candidate candidate,
    RoutingTableCache.ReplicaSet replicas, string kind, string reason, string? cacheKey)
{
    private readonly StringBuilder _text = new();
    private IAsyncEnumerator<GenerationChunk>? _chunks;
    private CancellationTokenSource? _firstToken;
    private int _pick = -1;
    private int _failed = -1;
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

    /// <summary>
    /// Starts a replica's stream and waits for its first chunk, within the model's timeout and through the replica's
    /// breaker; a replica that fails before its first token, or a throttled provider, is tried again with backoff (the <paramref name="retry"/> pipeline).
    /// </summary>
    public async Task StartAsync(ChatRequest request, bool panicAllowed, ResiliencePipeline retry, CancellationToken cancellationToken)
    {
        hold?.KeepOpen(); // held while it streams, however long

        var generation = new GenerationRequest(request.Prompt, request.MaxTokens, request.Temperature, request.Seed);
        await retry.ExecuteAsync(
            static (s, ct) => new ValueTask(s.Self.StartOnceAsync(s.Generation, s.PanicAllowed, ct)),
            (Self: this, Generation: generation, PanicAllowed: panicAllowed),
            cancellationToken);
    }

    private async Task StartOnceAsync(GenerationRequest generation, bool panicAllowed, CancellationToken cancellationToken)
    {
        var pick = ReplicaChoice.Pick(replicas, _failed, panicAllowed, out var panic);
        if (pick < 0)
        {
            throw AiFleetException.ModelUnavailable($"every replica circuit of model '{Model.Name}' is open");
        }

        (_pick, _firstToken) = (pick, CancellationTokenSource.CreateLinkedTokenSource(cancellationToken));
        replicas.Begin(pick);
        _firstToken.CancelAfter(Model.Config.RequestTimeoutMs);
        try
        {
            _chunks = replicas[pick].GenerateAsync(generation, _firstToken.Token).GetAsyncEnumerator(_firstToken.Token);
            var any = panic
                ? await _chunks.MoveNextAsync()
                : await replicas.Circuit(pick).Pipeline.ExecuteAsync(static async (chunks, _) => await chunks.MoveNextAsync(), _chunks, cancellationToken);
            if (!any)
            {
                throw AiFleetException.ModelUnavailable($"model '{Model.Name}' ended its stream before its first token");
            }
        }
        catch (Exception e) when (Faults.IsReplicaFault(e) && !cancellationToken.IsCancellationRequested)
        {
            _failed = pick;
            await LeaveReplicaAsync();
            throw;
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

    /// <summary>Stops the replica's stream (cancelling its decoding when unfinished) and leaves its in-flight count.</summary>
    private async Task LeaveReplicaAsync()
    {
        if (_chunks is not null)
        {
            try
            {
                await _chunks.DisposeAsync();
            }
            catch (Exception)
            {
                // The stream already failed; its failure is what the caller sees.
            }

            _chunks = null;
        }

        _firstToken?.Dispose();
        _firstToken = null;
        if (_pick >= 0)
        {
            replicas.End(_pick);
            _pick = -1;
        }
    }

    /// <summary>Leaves the replica and settles at what was delivered. Once.</summary>
    public async Task<decimal> EndAsync(string outcome, string? stopped)
    {
        if (_ended)
        {
            return 0m;
        }

        _ended = true;
        await LeaveReplicaAsync();
        var tokens = PromptTokens + CompletionTokens;
        var cost = tokens == 0 ? 0m : Model.Price(tokens);
        if (hold is not null)
        {
            await hold.SettleAsync(cost, tokens, outcome);
        }

        if (outcome == "ok" && stopped is null && cacheKey is not null && FinishReason is not null)
        {
            await cache.SetAsync(cacheKey, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new CachedChat(_text.ToString(), FinishReason, PromptTokens, CompletionTokens)));
        }

        metrics.ChatRoute(Model.Name, kind, outcome);
        return cost;
    }
}
