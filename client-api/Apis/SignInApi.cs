using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;
using Orleans.AiFleet.ClientApi.Auth;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// Sign-in for people in a browser, which cannot send a Bearer header: <c>GET /signin</c> shows a form that takes a
/// key (with an antiforgery token), <c>POST /signin</c> checks the key and sets an HttpOnly, SameSite=Strict cookie
/// (Secure over HTTPS) and goes on: an admin to <c>/dashboard</c> (or where they were headed), a user to their own
/// console page; <c>POST /signout</c> ends it. What the session may open is each route's policy. Tools keep Bearer.
/// </summary>
internal static class SignInApi
{
    public const string Path = "/signin";

    public static IEndpointRouteBuilder MapSignInApi(this IEndpointRouteBuilder app)
    {
        app.MapGet(Path, SignInPage).AllowAnonymous().ExcludeFromDescription();
        app.MapPost(Path, SignInAsync).AllowAnonymous().ExcludeFromDescription();
        app.MapPost("/signout", new Func<HttpContext, Task<IResult>>(SignOutAsync)).AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    private static IResult SignInPage(HttpContext http, IAntiforgery antiforgery, string? returnUrl, string? error) =>
        Page(http, antiforgery, LocalOrDashboard(returnUrl), error is null ? null : "That key was not accepted: it is unknown or revoked.",
            StatusCodes.Status200OK);

    private static async Task<IResult> SignInAsync(
        HttpContext http, [FromForm] string? key, [FromForm] string? returnUrl, ApiKeyValidator validator, IAntiforgery antiforgery, AuthFailureThrottle throttle,
        Microsoft.Extensions.Options.IOptions<TokenOptions> tokens)
    {
        if (throttle.IsThrottled(http))
        {
            http.Response.Headers.RetryAfter = ((int)AuthFailureThrottle.RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Page(http, antiforgery, LocalOrDashboard(returnUrl), "Too many failed sign-ins from this address: try again in a minute.",
                StatusCodes.Status429TooManyRequests);
        }

        var typed = key?.Trim() ?? "";
        if (TokenAuthentication.LooksLikeJwt(typed) && tokens.Value.Enabled)
        {
            return await SignInWithTokenAsync(http, typed, returnUrl, antiforgery, throttle);
        }

        var principal = typed is { Length: > 0 and <= InputBounds.MaxBearerLength }
            ? await validator.AuthenticateAsync(typed, CookieAuthenticationDefaults.AuthenticationScheme)
            : null;
        if (principal is null)
        {
            throttle.Failed(http);
            return Page(http, antiforgery, LocalOrDashboard(returnUrl), "That key was not accepted: it is unknown or revoked.",
                StatusCodes.Status401Unauthorized);
        }

        // The cookie names the key (by hash) so that revoking the key ends the session too.
        var identity = new ClaimsIdentity(principal.Claims.Append(new Claim(ApiKeyValidator.KeyHashClaim, ApiKeyValidator.HashOf(typed))),
            CookieAuthenticationDefaults.AuthenticationScheme, ClaimTypes.NameIdentifier, ClaimTypes.Role);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
        // An admin goes where they were headed; a user to their own page (the rest of the console is admins').
        return TypedResults.LocalRedirect(principal.IsAdmin() ? LocalOrDashboard(returnUrl) : ConsoleApi.OwnPage);
    }

    /// <summary>
    /// A token from the platform's identity provider, validated by JwtBearer exactly as on an API call: the session
    /// carries the token's user and ends when the token does (no sliding past its expiry).
    /// </summary>
    private static async Task<IResult> SignInWithTokenAsync(HttpContext http, string token, string? returnUrl, IAntiforgery antiforgery, AuthFailureThrottle throttle)
    {
        http.Items[TokenAuthentication.SignInTokenItem] = token;
        var result = await http.AuthenticateAsync(TokenAuthentication.SchemeName);
        http.Items.Remove(TokenAuthentication.SignInTokenItem);
        if (result.Principal?.SessionExpires() is not { } expires)
        {
            throttle.Failed(http);
            return Page(http, antiforgery, LocalOrDashboard(returnUrl), $"That token was not accepted: {TokenAuthentication.Reason(result.Failure)}.",
                StatusCodes.Status401Unauthorized);
        }

        var identity = new ClaimsIdentity(result.Principal.Claims, CookieAuthenticationDefaults.AuthenticationScheme, ClaimTypes.NameIdentifier, ClaimTypes.Role);
        await http.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity),
            new AuthenticationProperties { ExpiresUtc = expires, AllowRefresh = false });
        return TypedResults.LocalRedirect(ConsoleApi.OwnPage);
    }

    private static async Task<IResult> SignOutAsync(HttpContext http)
    {
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.LocalRedirect(Path);
    }

    /// <summary>Only a path on this site, with no control characters (a tab or newline in it is refused): never an open redirect.</summary>
    private static string LocalOrDashboard(string? url) =>
        url is { Length: > 1 and < 512 } && url[0] == '/' && url[1] is not ('/' or '\\') && !url.Any(char.IsControl) ? url : "/dashboard";

    private static IResult Page(HttpContext http, IAntiforgery antiforgery, string returnUrl, string? error, int status)
    {
        var tokens = antiforgery.GetAndStoreTokens(http);
        var message = error is null ? "" : $"""<p class="error" role="alert">{WebUtility.HtmlEncode(error)}</p>""";
        var html = $$"""
            <!doctype html>
            <html lang="en">
            <head><meta charset="utf-8"><title>Orleans.AiFleet — sign in</title>
            <style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}
            input,button{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box;margin:.25rem 0}
            .error{color:#a00;font-weight:600}</style></head>
            <body>
            <h1>Orleans.AiFleet</h1>
            <p>Sign in with an API key or a token from your institution's sign-in. Admins open the dashboard and the console; users see their own spend and budget.</p>
            {{message}}
            <form method="post" action="{{Path}}">
            <input type="hidden" name="{{tokens.FormFieldName}}" value="{{tokens.RequestToken}}">
            <input type="hidden" name="returnUrl" value="{{WebUtility.HtmlEncode(returnUrl)}}">
            <label for="key">API key or token</label>
            <input id="key" name="key" type="password" autocomplete="off" required maxlength="{{TokenAuthentication.MaxTokenLength}}">
            <button id="signin" type="submit">Sign in</button>
            </form>
            </body>
            </html>
            """;
        return TypedResults.Content(html, "text/html; charset=utf-8", statusCode: status);
    }
}
