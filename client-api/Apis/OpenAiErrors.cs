using Orleans.AiFleet.ClientApi.Failures;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// Shorthands for the OpenAI routes' failures; the shape (<c>{"error": {"message", "type", "param", "code"}}</c>) and the
/// status codes the OpenAI SDKs know how to treat (429 and 5xx are retried by them) come from <see cref="FailureRenderer"/>.
/// </summary>
internal static class OpenAiErrors
{
    public static IResult Invalid(string message, string? param = null) => new FailureResult(AiFleetException.Invalid(message, param));

    public static IResult ModelNotFound(string model) => new FailureResult(AiFleetException.ModelNotFound($"model '{model}' does not exist"));

    public static IResult FromException(Exception e, ILogger logger) => FailureResult.From(e, logger);
}
