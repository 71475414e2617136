namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// Bounds on what a request may carry, checked in client-api before anything is allocated for it or sent into the
/// cluster. Per-model bounds (sequence length, prompt and completion tokens, context) are checked by the grains
/// against the model's config.json.
/// </summary>
internal static class InputBounds
{
    /// <summary>Model, version, user, tier and key names.</summary>
    public const int MaxNameLength = 128;

    /// <summary>A bearer key: ours are about 70 characters; anything far longer is not a key.</summary>
    public const int MaxBearerLength = 256;

    /// <summary>Characters in one text to embed, bounding the tokenizer's work (the router bounds inputs and tokens).</summary>
    public const int MaxEmbeddingTextLength = 32 * 1024;

    /// <summary>Messages in one chat request.</summary>
    public const int MaxMessages = 256;

    /// <summary>Characters of prompt text in one chat request (long-context models take 128k tokens and more).</summary>
    public const int MaxPromptLength = 2 * 1024 * 1024;

    /// <summary>An <c>Idempotency-Key</c> header.</summary>
    public const int MaxIdempotencyKeyLength = 200;

    /// <summary>A client's request id (KServe's <c>id</c>, a WebSocket message's <c>id</c>): echoed in bodies only.</summary>
    public const int MaxClientIdLength = 256;

    /// <summary>What a client id may be: at most <see cref="MaxClientIdLength"/> characters, none a control character.</summary>
    public const string ClientIdRule = "'id' must be at most 256 characters, none of them control characters";

    /// <summary>Whether <paramref name="id"/> is a client id the server may keep and echo (null: none given).</summary>
    public static bool IsClientId(string? id) =>
        id is null || (id.Length <= MaxClientIdLength && !id.Any(char.IsControl));

    /// <summary>A grain key taken from a path (a user, a job, a course): printable, not blank, at most <see cref="MaxNameLength"/>.</summary>
    public static bool IsKey(string? key) =>
        key is { Length: > 0 and <= MaxNameLength } && !string.IsNullOrWhiteSpace(key) && !key.Any(char.IsControl);

    /// <summary>A model or version name: letters, digits, '.', '_' and '-', at most <see cref="MaxNameLength"/>.</summary>
    public static bool IsModelName(string? name) => GrainInterfaces.Inference.ModelNames.IsValid(name);
}
