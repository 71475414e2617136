using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.ClientApi.Failures;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;key&gt;</c> on every route but health and metrics. A missing or unknown key is 401 and
/// a key without the right role is 403, each in the error shape of the protocol the route speaks: KServe's
/// <c>{"error"}</c> under /v2, OpenAI's <c>{"error":{...}}</c> for the OpenAI routes, ProblemDetails elsewhere.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyValidator validator,
    AuthFailureThrottle throttle) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AdminPolicy = "admin";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return AuthenticateResult.NoResult();
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
        {
            return AuthenticateResult.Fail("the Authorization header must be 'Bearer <key>'");
        }

        if (header.Length > 7 + Apis.InputBounds.MaxBearerLength)
        {
            return AuthenticateResult.Fail($"the API key is not valid (longer than {Apis.InputBounds.MaxBearerLength} characters)");
        }

        var key = header[7..].Trim();
        if (throttle.IsThrottled(Context))
        {
            // Past this address's failed attempts: only a key already known valid here passes; nothing is looked up.
            if (validator.AuthenticateCached(key) is { } known)
            {
                return AuthenticateResult.Success(new AuthenticationTicket(known, SchemeName));
            }

            Context.Items[AuthFailureThrottle.ThrottledItem] = true;
            return AuthenticateResult.Fail("too many failed API keys from this address: try again in a minute");
        }

        var principal = await validator.AuthenticateAsync(key, SchemeName);
        if (principal is null)
        {
            throttle.Failed(Context);
            return AuthenticateResult.Fail("the API key is not valid (unknown or revoked)");
        }

        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await HandleAuthenticateOnceSafeAsync()).Failure?.Message;
        if (Context.Items.ContainsKey(AuthFailureThrottle.ThrottledItem))
        {
            await FailureRenderer.WriteAsync(Context, AiFleetException.OverBudget(
                GrainInterfaces.Budgets.BudgetLimitCodes.RequestsPerMinute, failure!, AuthFailureThrottle.RetryAfter));
            return;
        }

        await ApiErrors.UnauthorizedAsync(Context, failure ?? "an API key is required: send 'Authorization: Bearer <key>'");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ApiErrors.ForbiddenAsync(Context, "this API key's role may not use this route");
}
