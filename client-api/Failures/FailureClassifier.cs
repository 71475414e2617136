using System.Data.Common;
using System.Text;
using System.Text.Json;
using Orleans.Runtime.Messaging;

namespace Orleans.AiFleet.ClientApi.Failures;

/// <summary>
/// Classifies any exception once into the closed set of <see cref="FailureKind"/>s. What the cluster threw on purpose
/// arrives as an <see cref="AiFleetException"/>; bad bodies, oversized reads and transport trouble are named here.
/// Anything else is a defect: null, answered 500 and logged, never passed off as a retryable 503.
/// </summary>
internal static class FailureClassifier
{
    public static AiFleetException? Classify(Exception e) => e switch
    {
        AiFleetException failure => failure,
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
            AiFleetException.TooLarge("the request body is larger than this route accepts"),
        BadHttpRequestException { InnerException: JsonException json } => FromJson(json),
        BadHttpRequestException bad => AiFleetException.Invalid(bad.Message),
        JsonException json => FromJson(json),
        // JSON whose strings are read lazily (a JsonElement, the KServe reader) meets invalid UTF-8 only when read.
        DecoderFallbackException or InvalidOperationException { InnerException: DecoderFallbackException } =>
            AiFleetException.Invalid("the request body is not valid UTF-8"),
        OperationCanceledException => AiFleetException.Timeout("the request did not finish in time"),
        TimeoutException => Cluster("the cluster did not answer in time"),
        OrleansException or ConnectionFailedException => Cluster($"the inference cluster could not answer ({e.GetType().Name}); retry"),
        DbException => AiFleetException.StoreUnavailable("a store could not be reached; retry"),
        _ when e.GetType().Namespace?.StartsWith("StackExchange.Redis", StringComparison.Ordinal) == true =>
            AiFleetException.StoreUnavailable("a store could not be reached; retry"),
        _ => null,
    };

    /// <summary>A body that does not parse or whose field has the wrong type: 400 naming the field from the reader's path.</summary>
    public static AiFleetException FromJson(JsonException json)
    {
        var field = FieldOf(json.Path);
        if (field is null)
        {
            return AiFleetException.Invalid("the request body is not valid JSON" + (json.LineNumber is { } line ? $" (line {line + 1}, byte {json.BytePositionInLine})" : ""));
        }

        if (field.Length > 200)
        {
            field = field[..200];
        }

        // An enum field's converter says what it takes.
        if (json.Message.StartsWith(Apis.StrictEnumConverter<Apis.ChatRole>.MessagePrefix, StringComparison.Ordinal))
        {
            return AiFleetException.Invalid($"'{field}' {json.Message}", field);
        }

        return AiFleetException.Invalid($"'{field}' has the wrong type or an invalid value", field);
    }


    /// <summary><c>$.messages[0].content</c> → <c>messages[0].content</c>; the root (<c>$</c>) names no field.</summary>
    public static string? FieldOf(string? path) =>
        path is null or "$" or "" ? null : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    private static AiFleetException Cluster(string message) =>
        new(FailureKind.Unavailable, FailureCodes.ClusterUnavailable, message, retryAfter: TimeSpan.FromSeconds(1));
}
