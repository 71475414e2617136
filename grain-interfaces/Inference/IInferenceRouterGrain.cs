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
}
