namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>
/// The entry point of the inference path: a stateless worker on the caller's silo that resolves the version and
/// picks the least-loaded replica (power of two choices), so no single grain sits on every request.
/// </summary>
[Alias("aifleet.IInferenceRouterGrain")]
public interface IInferenceRouterGrain : IGrainWithIntegerKey
{
    /// <summary>Runs one inference on a replica of the requested (or default) version.</summary>
    [Alias("Infer")]
    Task<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Tokenizes the texts with the model's own tokenizer, reserves their cost on the user's budget, embeds every
    /// input through the replicas (batched with other traffic) and settles what was used.
    /// </summary>
    [Alias("Embed")]
    Task<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Admits a chat: checks the model generates text, reserves the worst case (prompt plus the token limit) on the
    /// user's budget and picks a replica. The caller streams from that replica and then calls <see cref="EndChatAsync"/>.
    /// </summary>
    [Alias("BeginChat")]
    Task<ChatLease> BeginChatAsync(ChatRequest request);

    /// <summary>
    /// Settles a chat at what it used (whether it finished, failed or the client went away); a finished
    /// deterministic chat's text is kept in the response cache.
    /// </summary>
    [Alias("EndChat")]
    Task<ChatCost> EndChatAsync(ChatLease lease, int promptTokens, int completionTokens, string outcome, string? text = null, string? finishReason = null);

    /// <summary>
    /// A whole chat in one call: picks the model (the named one, or for <c>auto</c> the cheapest healthy model that
    /// meets the policy and the user's tier), and runs it through Polly.Core: a timeout and jittered retries per
    /// model, the replicas' circuit breakers, and a fallback chain to the next cheapest model; latency-critical
    /// requests (with a latency ceiling) are hedged on the next model once the first passes its expected p95.
    /// Each model tried reserves and settles on the user's budget for itself.
    /// </summary>
    [Alias("CompleteChat")]
    Task<ChatCompletion> CompleteChatAsync(ChatRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// A streamed chat whose model failed before its first token: settles that lease at nothing used and admits the
    /// next model of its fallback chain; a a model-unavailable <see cref="AiFleetException"/> when none is left.
    /// </summary>
    [Alias("FallbackChat")]
    Task<ChatLease> FallbackChatAsync(ChatRequest request, ChatLease failed, string error);

    /// <summary>The most one such chat can cost: the dearest worst case among the models that may answer it.</summary>
    [Alias("EstimateChat")]
    Task<decimal> EstimateChatAsync(ChatRequest request);
}
