using Microsoft.AspNetCore.Diagnostics;

namespace Orleans.AiFleet.ClientApi.Failures;

/// <summary>
/// The one exception-to-response mapper: whatever an endpoint, the binder or the body reader throws is classified
/// once (<see cref="FailureClassifier"/>) and rendered in the route group's protocol (<see cref="FailureRenderer"/>).
/// Cluster trouble is logged as a warning; an unclassified exception is a defect, logged as an error and answered 500.
/// </summary>
internal sealed partial class FailureHandler(ILogger<FailureHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
    {
        if (http.RequestAborted.IsCancellationRequested)
        {
            return true; // nobody is listening
        }

        var failure = FailureClassifier.Classify(exception);
        if (failure is null)
        {
            LogDefect(logger, exception, http.Request.Method, http.Request.Path);
        }
        else if (failure.Kind is FailureKind.Unavailable or FailureKind.Timeout)
        {
            LogClusterTrouble(logger, exception, http.Request.Method, http.Request.Path, failure.Code);
        }

        if (http.Response.HasStarted)
        {
            http.Abort(); // a half-written body must not pass for a whole one
            return true;
        }

        await FailureRenderer.WriteAsync(http, failure);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed with an unclassified exception (a defect)")]
    private static partial void LogDefect(ILogger logger, Exception error, string method, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path} failed in the cluster ({Code})")]
    private static partial void LogClusterTrouble(ILogger logger, Exception error, string method, string path, string code);
}
