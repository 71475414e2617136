using Orleans.AiFleet.ClientApi.Failures;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>Authentication and authorization refusals, written outside an endpoint in the route's protocol.</summary>
internal static class ApiErrors
{
    public static Task UnauthorizedAsync(HttpContext http, string message) =>
        FailureRenderer.WriteAsync(http, new AiFleetException(FailureKind.Unauthorized, FailureCodes.Unauthorized, message));

    public static Task ForbiddenAsync(HttpContext http, string message) =>
        FailureRenderer.WriteAsync(http, AiFleetException.Forbidden(message));
}
