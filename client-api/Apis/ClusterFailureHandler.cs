using Microsoft.AspNetCore.Diagnostics;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// The last guard against a 500: a request ASP.NET Core could not bind is a 400 naming why; anything a handler did not map (in practice the cluster failing over, a silo or
/// the registry unreachable for a moment) becomes 503 with Retry-After, in the error shape of the protocol spoken:
/// KServe's {"error"} under /v2, ProblemDetails elsewhere.
/// </summary>
internal sealed partial class ClusterFailureHandler(ILogger<ClusterFailureHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
    {
        if (http.RequestAborted.IsCancellationRequested)
        {
            return true;
        }

        if (exception is BadHttpRequestException bad)
        {
            // The request could not be read or bound (malformed JSON, a wrong type, an unparsable query value).
            var detail = bad.InnerException is System.Text.Json.JsonException json ? $"{bad.Message} {json.Message}" : bad.Message;
            await TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request").ExecuteAsync(http);
            return true;
        }

        LogUnhandled(logger, exception, http.Request.Path);
        var message = $"the inference cluster could not answer ({exception.GetType().Name}); retry";
        http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        http.Response.Headers.RetryAfter = "1";
        if (http.Request.Path.StartsWithSegments("/v2"))
        {
            await http.Response.WriteAsJsonAsync(new KServeErrors.ErrorBody(message), cancellationToken);
        }
        else
        {
            await TypedResults.Problem(message, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Cluster unavailable").ExecuteAsync(http);
        }

        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Request {Path} failed inside the cluster")]
    private static partial void LogUnhandled(ILogger logger, Exception error, string path);
}
