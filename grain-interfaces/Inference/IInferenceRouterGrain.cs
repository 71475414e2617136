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
    /// A whole chat in one call: picks the model (the named one, or for <c>auto</c> the cheapest healthy model that
    /// meets the policy and the user's tier), and runs it through Polly.Core: a timeout and jittered retries per
    /// model, the replicas' circuit breakers, and a fallback chain to the next cheapest model; latency-critical
    /// requests (with a latency ceiling) are hedged on the next model once the first passes its expected p95.
    /// Each model tried reserves and settles on the user's budget for itself.
    /// </summary>
    [Alias("CompleteChat")]
    Task<ChatCompletion> CompleteChatAsync(ChatRequest request, CancellationToken cancellationToken = default);

    /// <summary>The most one such chat can cost: the dearest worst case among the models that may answer it.</summary>
    [Alias("EstimateChat")]
    Task<decimal> EstimateChatAsync(ChatRequest request);
}

/// <summary>
/// One streamed chat, keyed by its completion id: the router's chat path as a stream across the grain boundary. A
/// grain of its own per chat (placed on the caller's silo when it has one) because a stream's later pulls must reach
/// the activation that holds it, which a stateless worker cannot promise; it deactivates when the chat ends.
/// </summary>
[Alias("aifleet.IChatStreamGrain")]
public interface IChatStreamGrain : IGrainWithStringKey
{
    /// <summary>
    /// Plan → cache → hold → replica (through its circuit breaker and the router's in-flight counts) → the next model of
    /// the chain if one fails before its first token → settle in <c>finally</c> at what was delivered, whether the
    /// stream finished, failed or was cancelled. Each chunk is checked against the hold: a stream that would pass it
    /// ends early (finish reason <c>length</c>, and why).
    /// </summary>
    [Alias("Stream")]
    IAsyncEnumerable<ChatEvent> StreamAsync(ChatRequest request, CancellationToken cancellationToken = default);
}
