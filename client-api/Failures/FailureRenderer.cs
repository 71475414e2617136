using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orleans.AiFleet.ClientApi.Failures;

/// <summary>
/// Writes a classified failure in the error shape of the route group's protocol: the one place a failure becomes a
/// status code, a Retry-After and a body. The body is serialized whole before the status line goes out.
/// </summary>
internal static class FailureRenderer
{
    // As ASP.NET Core's own JSON results: web defaults, relaxed escaping (these are API bodies, never HTML).
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static int StatusOf(AiFleetException? failure) => failure?.Kind switch
    {
        FailureKind.InvalidArgument => StatusCodes.Status400BadRequest,
        FailureKind.Unauthorized => StatusCodes.Status401Unauthorized,
        FailureKind.Forbidden => StatusCodes.Status403Forbidden,
        FailureKind.NotFound => StatusCodes.Status404NotFound,
        FailureKind.Conflict => StatusCodes.Status409Conflict,
        FailureKind.PayloadTooLarge => StatusCodes.Status413PayloadTooLarge,
        FailureKind.RateLimited => StatusCodes.Status429TooManyRequests,
        FailureKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
        FailureKind.Timeout => StatusCodes.Status504GatewayTimeout,
        _ => StatusCodes.Status500InternalServerError,
    };

    /// <summary>A failure's message as every protocol shows it: a spending or rate refusal ends naming its limit.</summary>
    public static string MessageOf(AiFleetException failure) =>
        failure.Limit is { } limit ? $"{failure.Message} ({limit})" : failure.Message;

    /// <summary>Renders <paramref name="failure"/>, or a defect (null) as a 500 that says nothing of its insides.</summary>
    public static async Task WriteAsync(HttpContext http, AiFleetException? failure)
    {
        var status = StatusOf(failure);
        var message = failure is null ? "the server failed to handle this request (a defect, logged)" : MessageOf(failure);
        var code = failure?.Code ?? FailureCodes.Internal;
        var field = failure?.Field;
        var protocol = ErrorProtocols.Of(http);
        if (protocol == ErrorProtocol.Grpc)
        {
            WriteGrpc(http, failure, message, code);
            return;
        }

        var body = protocol switch
        {
            ErrorProtocol.KServe => JsonSerializer.SerializeToUtf8Bytes(new KServeError(message), Json),
            ErrorProtocol.OpenAi => JsonSerializer.SerializeToUtf8Bytes(new OpenAiError(new OpenAiErrorDetail(message, OpenAiType(failure), field, code)), Json),
            _ => JsonSerializer.SerializeToUtf8Bytes(new Problem(TitleOf(failure), status, message, code, field, failure?.Limit), Json),
        };

        http.Response.Clear();
        http.Response.StatusCode = status;
        if (failure is { Kind: FailureKind.RateLimited or FailureKind.Unavailable })
        {
            var after = failure.RetryAfter ?? TimeSpan.FromSeconds(1);
            http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        if (failure is { Kind: FailureKind.Unauthorized })
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
        }

        http.Response.ContentType = protocol == ErrorProtocol.ProblemDetails ? "application/problem+json" : "application/json";
        http.Response.ContentLength = body.Length;
        await http.Response.Body.WriteAsync(body);
    }

    /// <summary>
    /// A refusal made before a gRPC service runs (401, 403, 413, 429 from middleware): answered as gRPC itself answers,
    /// HTTP 200 with only headers, <c>grpc-status</c> and a percent-encoded <c>grpc-message</c>, so generated clients
    /// read a status instead of failing on an HTTP status they do not expect.
    /// </summary>
    private static void WriteGrpc(HttpContext http, AiFleetException? failure, string message, string code)
    {
        http.Response.Clear();
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/grpc";
        var status = failure is null ? global::Grpc.Core.StatusCode.Internal : Grpc.GrpcFailures.CodeOf(failure.Kind);
        http.Response.Headers["grpc-status"] = ((int)status).ToString(CultureInfo.InvariantCulture);
        http.Response.Headers["grpc-message"] = PercentEncode(message);
        http.Response.Headers["aifleet-code"] = code;
        if (failure is { Kind: FailureKind.RateLimited or FailureKind.Unavailable })
        {
            var after = failure.RetryAfter ?? TimeSpan.FromSeconds(1);
            http.Response.Headers["retry-after"] = Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>gRPC's encoding of a status message: printable ASCII but '%' as is, every other UTF-8 byte as %XX.</summary>
    private static string PercentEncode(string message)
    {
        var text = new System.Text.StringBuilder(message.Length);
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(message))
        {
            text.Append(b is >= 0x20 and <= 0x7E and not (byte)'%' ? (char)b : $"%{b:X2}");
        }

        return text.ToString();
    }

    private static string OpenAiType(AiFleetException? failure) => failure switch
    {
        { Kind: FailureKind.Unauthorized } => "authentication_error",
        { Kind: FailureKind.Forbidden } => "permission_error",
        { Code: FailureCodes.BudgetExceeded } => "insufficient_quota",
        { Kind: FailureKind.RateLimited } => "rate_limit_error",
        { Kind: FailureKind.InvalidArgument or FailureKind.NotFound or FailureKind.PayloadTooLarge or FailureKind.Conflict } => "invalid_request_error",
        _ => "server_error",
    };

    private static string TitleOf(AiFleetException? failure) => failure?.Kind switch
    {
        FailureKind.InvalidArgument => "Invalid request",
        FailureKind.Unauthorized => "Unauthorized",
        FailureKind.Forbidden => "Forbidden",
        FailureKind.NotFound => "Not found",
        FailureKind.Conflict => "Conflict",
        FailureKind.PayloadTooLarge => "Payload too large",
        FailureKind.RateLimited => "Too many requests",
        FailureKind.Unavailable => "Service unavailable",
        FailureKind.Timeout => "Timeout",
        _ => "Internal error",
    };

    private sealed record KServeError(string Error);

    private sealed record OpenAiErrorDetail(string Message, string Type, string? Param, string Code);

    private sealed record OpenAiError(OpenAiErrorDetail Error);

    private sealed record Problem(
        string Title,
        int Status,
        string Detail,
        string Code,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Field,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Limit);
}

/// <summary>A failure as an endpoint result, for handlers that answer one rather than throw it (null: a defect, 500).</summary>
internal sealed partial class FailureResult(AiFleetException? failure) : IResult
{
    public AiFleetException? Failure { get; } = failure;

    public Task ExecuteAsync(HttpContext httpContext) => FailureRenderer.WriteAsync(httpContext, Failure);

    /// <summary>Classifies a caught exception; a defect is logged here, since it will not reach the failure handler.</summary>
    public static FailureResult From(Exception e, ILogger logger)
    {
        var failure = FailureClassifier.Classify(e);
        if (failure is null)
        {
            LogDefect(logger, e);
        }

        return new FailureResult(failure);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A request failed with an unclassified exception (a defect)")]
    private static partial void LogDefect(ILogger logger, Exception error);
}
