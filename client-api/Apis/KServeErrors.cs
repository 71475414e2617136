using Orleans.AiFleet.ClientApi.Failures;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>KServe v2 answers that are not failures of the request (a model not ready is a 4xx by the protocol), and failures as results.</summary>
internal static class KServeErrors
{
    public sealed record ErrorBody(string Error);

    /// <summary>A protocol answer in KServe's error shape that is not one of the failure kinds (readiness).</summary>
    public static IResult Error(int status, string message) => TypedResults.Json(new ErrorBody(message), statusCode: status);

    public static IResult NotFound(string message) => new FailureResult(AiFleetException.ModelNotFound(message));

    public static IResult Invalid(string message) => new FailureResult(AiFleetException.Invalid(message));
}
