using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Net.Client;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.ClientApi.Tests.Auth;

/// <summary>
/// Sessions and connections end when they should and only their own site may use them: sign-out ends the session
/// server-side, a revoked key closes its sockets, a user holds a bounded number of sockets, a session socket needs this
/// site's origin; pages cannot be framed; refusals before a gRPC service runs are gRPC statuses.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed partial class SessionSecurityTests(ApiFixture fixture)
{
    [Fact]
    public async Task SignOut_EndsTheSessionServerSide_TheSameCookieReplayedIsRefused()
    {
        var cookie = await SignInAsync(fixture.BaseAddress, TestKeys.Admin);
        Assert.Equal(HttpStatusCode.OK, (await WithCookieAsync(HttpMethod.Get, "/console/api/keys", cookie)).StatusCode);

        Assert.Equal(HttpStatusCode.Redirect, (await WithCookieAsync(HttpMethod.Post, "/signout", cookie)).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await WithCookieAsync(HttpMethod.Get, "/console/api/keys", cookie)).StatusCode);
    }

    [Fact]
    public async Task ASessionSocket_FromAnotherOrigin_IsRefused_FromItsOwn_IsAccepted()
    {
        var cookie = await SignInAsync(fixture.BaseAddress, TestKeys.Admin);

        using var foreign = Socket(cookie, "http://evil.example");
        await Assert.ThrowsAsync<WebSocketException>(() => foreign.ConnectAsync(SocketUri, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Forbidden, foreign.HttpStatusCode);

        using var own = Socket(cookie, fixture.BaseAddress.ToString().TrimEnd('/'));
        await own.ConnectAsync(SocketUri, CancellationToken.None);
        Assert.Equal(WebSocketState.Open, own.State);
    }

    [Fact]
    public async Task AUsersSockets_AreBounded_AndAClosedOneFreesItsPlace()
    {
        var key = await fixture.NewUserKeyAsync($"sockets-{Guid.NewGuid():N}");
        var open = new List<ClientWebSocket>();
        try
        {
            for (var i = 0; i < Apis.RealtimeApi.MaxConnectionsPerUser; i++)
            {
                open.Add(await BearerSocketAsync(key));
            }

            using var extra = new ClientWebSocket { Options = { CollectHttpResponseDetails = true } };
            extra.Options.SetRequestHeader("Authorization", $"Bearer {key}");
            await Assert.ThrowsAsync<WebSocketException>(() => extra.ConnectAsync(SocketUri, CancellationToken.None));
            Assert.Equal(HttpStatusCode.TooManyRequests, extra.HttpStatusCode);

            await open[0].CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            await Eventually.TrueAsync(async () =>
            {
                using var again = new ClientWebSocket();
                again.Options.SetRequestHeader("Authorization", $"Bearer {key}");
                try
                {
                    await again.ConnectAsync(SocketUri, CancellationToken.None);
                    await again.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                    return true;
                }
                catch (WebSocketException)
                {
                    return false;
                }
            }, "a place freed by the closed socket");
        }
        finally
        {
            foreach (var socket in open)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task ARevokedKey_ClosesItsOpenSocket_With1008()
    {
        var user = $"revoked-socket-{Guid.NewGuid():N}";
        var created = await (await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user" })).Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>();
        using var socket = await BearerSocketAsync(created!["key"]!.GetValue<string>());

        Assert.Equal(HttpStatusCode.NoContent, (await fixture.Http.DeleteAsync($"/v1/admin/keys/{created["id"]!.GetValue<string>()}")).StatusCode);

        var closed = await socket.ReceiveAsync(new byte[1024], CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(WebSocketMessageType.Close, closed.MessageType);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
        Assert.Equal("the key was revoked", socket.CloseStatusDescription);
    }

    [Theory]
    [InlineData("/signin")]
    [InlineData("/console")]
    public async Task BrowserPages_CannotBeFramed_AndRunOnlyTheirOwnScripts(string path)
    {
        using var response = await fixture.Http.GetAsync(path);

        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        var policy = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
        Assert.Matches("script-src 'self'( 'sha256-[A-Za-z0-9+/=]+')+;", policy);
    }

    [Fact]
    public async Task ASignInReturnUrlWithATab_GoesToTheDashboard_NotA500()
    {
        var (client, token) = await SignInFormAsync(fixture.BaseAddress);
        using (client)
        {
            using var posted = await client.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["key"] = TestKeys.Admin, ["returnUrl"] = "/\t/evil.example", [token.Name] = token.Value,
            }));

            Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
            Assert.Equal("/dashboard", posted.Headers.Location!.OriginalString);
        }
    }

    [Fact]
    public async Task BehindATlsIngress_TheSessionCookieIsSecure()
    {
        var (client, token) = await SignInFormAsync(fixture.BaseAddress);
        using (client)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/signin")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = TestKeys.Admin, [token.Name] = token.Value }),
            };
            request.Headers.Add("X-Forwarded-Proto", "https"); // from loopback, the proxy ASP.NET Core trusts by default
            using var posted = await client.SendAsync(request);

            var session = posted.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("aifleet_session=", StringComparison.Ordinal));
            Assert.Contains("; secure", session, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task AGrpcCallRefusedBeforeTheService_IsAGrpcStatus_WithTheServersMessage()
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{fixture.GrpcPort}");
        var client = new GRPCInferenceService.GRPCInferenceServiceClient(channel);

        var anonymous = await Assert.ThrowsAsync<RpcException>(async () => await client.ServerMetadataAsync(new ServerMetadataRequest()));
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);
        Assert.Equal("an API key is required: send 'Authorization: Bearer <key>'", anonymous.Status.Detail);

        var key = await fixture.NewUserKeyAsync($"grpc-refused-{Guid.NewGuid():N}");
        var user = await Assert.ThrowsAsync<RpcException>(async () => await client.RepositoryIndexAsync(
            new RepositoryIndexRequest(), new global::Grpc.Core.Metadata { { "authorization", $"Bearer {key}" } }));
        Assert.Equal(StatusCode.PermissionDenied, user.StatusCode);
        Assert.Contains("may not use this route", user.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Feedback_TakesARequestPerMinute_LikeAnyRequest()
    {
        var user = $"feedback-rpm-{Guid.NewGuid():N}";
        using var http = fixture.Client(await fixture.NewUserKeyAsync(user));
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync($"/v1/admin/budgets/{user}", new { requestsPerMinute = 3 })).StatusCode);

        var codes = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            codes.Add((await http.PostAsJsonAsync("/v1/feedback", new { model = "digits", id = $"{i:x32}", label = 1 })).StatusCode);
        }

        Assert.Equal([HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], codes);
    }

    private Uri SocketUri => new($"ws://127.0.0.1:{fixture.BaseAddress.Port}/v2/ws");

    private static ClientWebSocket Socket(string cookie, string origin)
    {
        var socket = new ClientWebSocket { Options = { CollectHttpResponseDetails = true } };
        socket.Options.SetRequestHeader("Cookie", cookie);
        socket.Options.SetRequestHeader("Origin", origin);
        return socket;
    }

    private async Task<ClientWebSocket> BearerSocketAsync(string key)
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {key}");
        await socket.ConnectAsync(SocketUri, CancellationToken.None);
        return socket;
    }

    private async Task<HttpResponseMessage> WithCookieAsync(HttpMethod method, string path, string cookie)
    {
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = fixture.BaseAddress };
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Cookie", cookie);
        return await client.SendAsync(request);
    }

    /// <summary>A client holding the sign-in form's antiforgery cookie, and the form's token field.</summary>
    internal static async Task<(HttpClient Client, (string Name, string Value) Token)> SignInFormAsync(Uri server)
    {
        var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = server };
        var page = await client.GetStringAsync("/signin");
        var token = HiddenToken().Match(page);
        return (client, (token.Groups[1].Value, token.Groups[2].Value));
    }

    /// <summary>Signs in through the form and returns the session cookie (<c>aifleet_session=…</c>).</summary>
    internal static async Task<string> SignInAsync(Uri server, string key)
    {
        var (client, token) = await SignInFormAsync(server);
        using (client)
        {
            using var posted = await client.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = key, [token.Name] = token.Value }));
            Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
            return posted.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("aifleet_session=", StringComparison.Ordinal)).Split(';')[0];
        }
    }

    [GeneratedRegex("""<input type="hidden" name="([^"]+)" value="([^"]+)">""")]
    private static partial Regex HiddenToken();
}
