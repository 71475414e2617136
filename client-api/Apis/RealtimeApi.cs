using System.Security.Claims;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.ClientApi.Hosting;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// Real-time predictions over one WebSocket (<c>GET /v2/ws</c>): many KServe infer requests per connection, each a
/// text message <c>{"id", "model", "version"?, "inputs", "outputs"?}</c>, answered as they finish (in any order) with
/// the KServe response and the same <c>id</c>, or <c>{"id", "error", "code"}</c>. The key is checked at the upgrade
/// (a Bearer header, or a browser's signed-in session cookie from this site's own origin) and again every
/// <see cref="AuthOptions.SocketRecheckSeconds"/>: a revoked key closes the connection with 1008. A user holds at most
/// <see cref="MaxConnectionsPerUser"/> connections on one client-api (429 past that). At most <see cref="MaxInFlight"/>
/// requests run per connection: past that the server stops reading, so a fast sender is held back by TCP. A message is
/// at most <see cref="MaxMessageBytes"/>; a bigger one closes the connection (1009). Buffers are taken from a pool as
/// messages arrive, so an idle connection holds a few kilobytes. On shutdown the requests in flight are answered, then
/// the connection closes with 1001.
/// </summary>
internal static class RealtimeApi
{
    public const int MaxInFlight = 64;

    public const int MaxMessageBytes = 1024 * 1024;

    public const int MaxConnectionsPerUser = 16;

    /// <summary>What an idle connection holds for its next message; it grows, from the pool, only as a message needs.</summary>
    internal const int FirstBufferBytes = 4096;

    public static IEndpointRouteBuilder MapRealtimeApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v2/ws", ConnectAsync).RequireAuthorization(ApiServiceExtensions.BrowserOrBearerPolicy).WithTags("KServe v2 WebSocket");
        return app;
    }

    private static async Task<IResult> ConnectAsync(
        HttpContext http, ClaimsPrincipal caller, ModelCatalog catalog, ClusterCalls calls, IHostApplicationLifetime lifetime,
        ApiKeyValidator validator, SocketConnections connections, Microsoft.Extensions.Options.IOptions<AuthOptions> auth, TimeProvider time)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            return KServeErrors.Invalid("this route is a WebSocket: send an upgrade request");
        }

        // A session cookie rides along with any page's request: only this site's own pages may use it for a socket.
        var bearer = http.Request.Headers.Authorization.ToString();
        if (bearer.Length == 0 && http.Request.Headers.Origin is [{ } origin] && !SameOrigin(origin, http.Request))
        {
            throw AiFleetException.Forbidden("a signed-in session may open a WebSocket only from this site's own pages");
        }

        // A key is re-checked with the cluster (revocation closes the socket); a token's session ends when it expires.
        var expires = caller.SessionExpires();
        var keyHash = expires is not null ? null
            : bearer.Length > 7 ? ApiKeyValidator.HashOf(bearer[7..].Trim()) : caller.FindFirst(ApiKeyValidator.KeyHashClaim)?.Value;
        var user = caller.UserId();
        if (!connections.TryOpen(user, MaxConnectionsPerUser))
        {
            throw AiFleetException.OverBudget(BudgetLimitCodes.MaxParallel, $"this user already holds {MaxConnectionsPerUser} WebSocket connections; close one first", TimeSpan.FromSeconds(1));
        }

        try
        {
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            Func<ValueTask<bool>> stillValid = expires is { } end ? () => ValueTask.FromResult(time.GetUtcNow() < end)
                : keyHash is null ? () => ValueTask.FromResult(false)
                : () => validator.IsActiveNowAsync(keyHash);
            var connection = new RealtimeConnection(socket, caller, catalog, calls, stillValid, TimeSpan.FromSeconds(auth.Value.SocketRecheckSeconds));
            await connection.RunAsync(http.RequestAborted, lifetime.ApplicationStopping);
        }
        finally
        {
            connections.Close(user);
        }

        return TypedResults.Empty;
    }

    private static bool SameOrigin(string origin, HttpRequest request) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);
}
