namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>
/// Texts (or already tokenized inputs) to embed with a model that has a tokenizer and a <c>sentence_embedding</c>
/// output, charged to <see cref="User"/>'s budget and queued in the lane of their <see cref="UserTier"/>; by <see cref="Version"/> when named, else by the model's traffic policy.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.EmbeddingRequest")]
public sealed record EmbeddingRequest(
    [property: Id(0)] string User,
    [property: Id(1)] string Model,
    [property: Id(2)] IReadOnlyList<string>? Texts,
    [property: Id(3)] IReadOnlyList<long[]>? TokenIds,
    [property: Id(4)] string? RequestId = null,
    [property: Id(5)] string? Version = null,
    [property: Id(6)] string? UserTier = null,
    [property: Id(7)] string? Team = null);

/// <summary>One vector per input, in input order, with the tokens read, the cost charged, and how many came from the response cache (free).</summary>
[GenerateSerializer, Immutable, Alias("aifleet.EmbeddingResult")]
public sealed record EmbeddingResult(
    [property: Id(0)] string Model,
    [property: Id(1)] string Version,
    [property: Id(2)] IReadOnlyList<float[]> Embeddings,
    [property: Id(3)] int PromptTokens,
    [property: Id(4)] decimal Cost,
    [property: Id(5)] int CachedInputs = 0);
