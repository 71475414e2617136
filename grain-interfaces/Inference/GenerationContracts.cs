namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>
/// Text to continue with a causal language model: at most <see cref="MaxTokens"/> new tokens, sampled at
/// <see cref="Temperature"/> (0: always the likeliest, so the same prompt gives the same text), from
/// <see cref="Seed"/> when given.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.GenerationRequest")]
public sealed record GenerationRequest(
    [property: Id(0)] string Prompt,
    [property: Id(1)] int MaxTokens,
    [property: Id(2)] double Temperature = 1.0,
    [property: Id(3)] int? Seed = null);

/// <summary>
/// A piece of generated text as it is produced, with the token counts so far; the last chunk of a generation has
/// an empty <see cref="Text"/> and a <see cref="FinishReason"/>: <c>stop</c> (the model ended the text) or
/// <c>length</c> (the token limit).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.GenerationChunk")]
public sealed record GenerationChunk(
    [property: Id(0)] string Text,
    [property: Id(1)] int PromptTokens,
    [property: Id(2)] int CompletionTokens,
    [property: Id(3)] string? FinishReason);

/// <summary>
/// What a request for the <c>auto</c> model needs: a quality floor (0 to 1), a latency ceiling (the model's expected
/// p95, in ms; a request with one is latency-critical and may be hedged), and a model tier to keep to.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.RoutingPolicy")]
public sealed record RoutingPolicy(
    [property: Id(0)] double? MinQuality = null,
    [property: Id(1)] int? MaxLatencyMs = null,
    [property: Id(2)] string? Tier = null);

/// <summary>
/// A chat request as the router sees it: whose, which model (or <see cref="Auto"/>), the prompt text, the sampling
/// settings, the routing policy for <c>auto</c> and the caller's user tier (null: the catalogue's default).
/// <see cref="PaidFrom"/> names the hold of a workflow that already holds the user's budget (a course saga): the router
/// checks that it is open (a chat paid from a hold that expired is refused, never run free), neither reserves nor
/// settles, and returns the cost for the workflow to settle. Never set from HTTP.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ChatRequest")]
public sealed record ChatRequest(
    [property: Id(0)] string User,
    [property: Id(1)] string Model,
    [property: Id(2)] string Prompt,
    [property: Id(3)] int MaxTokens,
    [property: Id(4)] double Temperature,
    [property: Id(5)] int? Seed,
    [property: Id(6)] RoutingPolicy? Policy = null,
    [property: Id(7)] string? UserTier = null,
    [property: Id(8)] Guid? PaidFrom = null,
    [property: Id(9)] string? RequestId = null,
    [property: Id(10)] string? Team = null)
{
    /// <summary>The model name that asks the router to choose.</summary>
    public const string Auto = "auto";
}

/// <summary>
/// A whole chat answer from the router (non-streaming): the model that answered, why it was chosen
/// (<see cref="ReasonKind"/>: requested, cheapest, fallback or hedge, and a sentence), the text, tokens and cost.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ChatCompletion")]
public sealed record ChatCompletion(
    [property: Id(0)] string Model,
    [property: Id(1)] string Version,
    [property: Id(2)] string Text,
    [property: Id(3)] string FinishReason,
    [property: Id(4)] int PromptTokens,
    [property: Id(5)] int CompletionTokens,
    [property: Id(6)] decimal Cost,
    [property: Id(7)] string ReasonKind,
    [property: Id(8)] string Reason,
    [property: Id(9)] bool Cached = false,
    [property: Id(10)] string? Stopped = null);

/// <summary>A whole chat answer from the response cache (temperature 0 is deterministic): served free, with no replica.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.CachedChat")]
public sealed record CachedChat(
    [property: Id(0)] string Text,
    [property: Id(1)] string FinishReason,
    [property: Id(2)] int PromptTokens,
    [property: Id(3)] int CompletionTokens);

/// <summary>
/// One event of a chat streamed by the router: <c>start</c> once the answering model gave its first token (or the
/// cache answered), with the model, version, why it was chosen and the cache's part; <c>delta</c> with text; <c>end</c>
/// with the finish reason, the usage and what was charged (settled before it is sent), and when the stream was cut
/// short by its hold, why.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ChatEvent")]
public sealed record ChatEvent(
    [property: Id(0)] string Kind,
    [property: Id(1)] string Text = "",
    [property: Id(2)] string Model = "",
    [property: Id(3)] string Version = "",
    [property: Id(4)] string RouteKind = "",
    [property: Id(5)] string Reason = "",
    [property: Id(6)] string Cache = "",
    [property: Id(7)] int PromptTokens = 0,
    [property: Id(8)] int CompletionTokens = 0,
    [property: Id(9)] string? FinishReason = null,
    [property: Id(10)] decimal Cost = 0m,
    [property: Id(11)] string? Stopped = null)
{
    public const string Start = "start";
    public const string Delta = "delta";
    public const string End = "end";
}
