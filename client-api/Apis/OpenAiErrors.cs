using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// OpenAI's error body, <c>{"error": {"message", "type", "param", "code"}}</c>, and the mapping from the cluster's
/// failures to it: the status codes and codes the OpenAI SDKs know how to treat (429 and 5xx are retried by them).
/// </summary>
internal static partial class OpenAiErrors
{
    public sealed record ErrorDetail(string Message, string Type, string? Param, string Code);

    public sealed record ErrorBody(ErrorDetail Error);

    public static IResult Error(int status, string type, string code, string message, string? param = null) =>
        TypedResults.Json(new ErrorBody(new ErrorDetail(message, type, param, code)), statusCode: status);

    public static IResult Invalid(string message, string? param = null) =>
        Error(StatusCodes.Status400BadRequest, "invalid_request_error", "invalid_request_error", message, param);

    public static IResult FromException(Exception e, HttpContext http, ILogger logger)
    {
        switch (e)
        {
            case InvalidInferenceRequestException:
                return Invalid(e.Message);
            case ModelNotAllowedException:
                return Error(StatusCodes.Status403Forbidden, "permission_error", "model_not_allowed", e.Message, "model");
            case ModelNotFoundException:
                return Error(StatusCodes.Status404NotFound, "invalid_request_error", "model_not_found", e.Message, "model");
            case BudgetExceededException budget:
                SetRetryAfter(http, budget.RetryAfter);
                return budget.IsRateLimit
                    ? Error(StatusCodes.Status429TooManyRequests, "rate_limit_error", "rate_limited", $"{e.Message} ({budget.Limit})")
                    : Error(StatusCodes.Status429TooManyRequests, "insufficient_quota", "budget_exceeded", $"{e.Message} ({budget.Limit})");
            case ReplicaOverloadedException overloaded:
                SetRetryAfter(http, TimeSpan.FromMilliseconds(overloaded.RetryAfterMs));
                return Error(StatusCodes.Status429TooManyRequests, "rate_limit_error", "rate_limited", e.Message);
            case InferenceTimeoutException:
                return Error(StatusCodes.Status504GatewayTimeout, "server_error", "timeout", e.Message);
            case ModelUnavailableException or BudgetUnavailableException:
                SetRetryAfter(http, TimeSpan.FromSeconds(1));
                return Error(StatusCodes.Status503ServiceUnavailable, "server_error", "service_unavailable", e.Message);
            default:
                LogBackendFailure(logger, e);
                SetRetryAfter(http, TimeSpan.FromSeconds(1));
                return Error(StatusCodes.Status503ServiceUnavailable, "server_error", "service_unavailable",
                    $"the inference cluster could not answer ({e.GetType().Name}); retry");
        }
    }

    private static void SetRetryAfter(HttpContext http, TimeSpan? after) =>
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling((after ?? TimeSpan.FromSeconds(1)).TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Error, Message = "An OpenAI-compatible request failed inside the cluster")]
    private static partial void LogBackendFailure(ILogger logger, Exception error);
}
