using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>KServe v2 error bodies, <c>{"error": "..."}</c>, and the mapping from inference failures to status codes.</summary>
internal static partial class KServeErrors
{
    public sealed record ErrorBody(string Error);

    public static IResult Error(int status, string message) => TypedResults.Json(new ErrorBody(message), statusCode: status);

    public static IResult FromException(Exception e, HttpContext http, ILogger logger)
    {
        switch (e)
        {
            case InvalidInferenceRequestException:
                return Error(StatusCodes.Status400BadRequest, e.Message);
            case ModelNotFoundException:
                return Error(StatusCodes.Status404NotFound, e.Message);
            case ReplicaOverloadedException overloaded:
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(overloaded.RetryAfterMs / 1000.0)).ToString();
                return Error(StatusCodes.Status429TooManyRequests, e.Message);
            case InferenceTimeoutException:
                return Error(StatusCodes.Status504GatewayTimeout, e.Message);
            case ModelUnavailableException:
                http.Response.Headers.RetryAfter = "1";
                return Error(StatusCodes.Status503ServiceUnavailable, e.Message);
            default:
                // Anything else is the cluster failing (a silo gone, a timeout inside Orleans): retryable, not the caller's fault.
                LogBackendFailure(logger, e);
                http.Response.Headers.RetryAfter = "1";
                return Error(StatusCodes.Status503ServiceUnavailable, $"the inference cluster could not answer ({e.GetType().Name}); retry");
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Inference failed inside the cluster")]
    private static partial void LogBackendFailure(ILogger logger, Exception error);
}
