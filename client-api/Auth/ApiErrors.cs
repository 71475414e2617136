using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>Errors written outside an endpoint (authentication), in the shape of the protocol the path speaks.</summary>
internal static class ApiErrors
{
    private static readonly string[] OpenAiPrefixes = ["/v1/models", "/v1/chat", "/v1/embeddings", "/v1/completions"];

    public static async Task WriteAsync(HttpContext http, int status, string code, string message)
    {
        var path = http.Request.Path.Value ?? "";
        http.Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
        }

        if (path.StartsWith("/v2", StringComparison.Ordinal))
        {
            http.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(http.Response.Body, new { error = message });
        }
        else if (OpenAiPrefixes.Any(p => path.StartsWith(p, StringComparison.Ordinal)))
        {
            http.Response.ContentType = "application/json";
            var type = status == StatusCodes.Status401Unauthorized ? "authentication_error" : "permission_error";
            await JsonSerializer.SerializeAsync(http.Response.Body, new { error = new { message, type, code, param = (string?)null } });
        }
        else
        {
            await Results.Problem(message, statusCode: status, title: status == StatusCodes.Status401Unauthorized ? "Unauthorized" : "Forbidden",
                extensions: new Dictionary<string, object?> { ["code"] = code }).ExecuteAsync(http);
        }
    }
}
