using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Net.Client;
using Orleans.AiFleet.ClientApi.Tests.Auth;
using Orleans.AiFleet.Grpc.Inference;
using GrpcMetadata = Grpc.Core.Metadata;

namespace Orleans.AiFleet.ClientApi.Tests.Tenancy;

/// <summary>
/// The embedded default trusting a real OpenID provider (npm's certified <c>oidc-provider</c>, started by
/// scripts/oidc.sh like PostgreSQL and Redis), by discovery. Its clients stand for people of the Northfield school
/// (tests/oidc/server.mjs): students ada and alan of class 10-b, their teacher grace (team admin), the head edsger (org
/// admin), barbara of Southgate, and a client whose token lacks the organization claim.
/// </summary>
public sealed class OidcApiFixture() : ApiFixtureBase(TestRepository.CopyOfShipped())
{
    public const string Audience = "urn:aifleet";

    public string Issuer { get; } = ServiceScript.StartAsync("oidc").GetAwaiter().GetResult();

    protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("AiFleet:Auth:Jwt:Authority", Issuer);
        builder.UseSetting("AiFleet:Auth:Jwt:Audience", Audience);
        builder.UseSetting("AiFleet:Auth:Jwt:RequireHttpsMetadata", "false"); // the provider listens on loopback
        builder.UseSetting("AiFleet:Auth:Jwt:UnknownKeyRefreshSeconds", "1");
    }

    /// <summary>An access token for the person a provider client stands for (client credentials, as a service would get one).</summary>
    public async Task<string> TokenAsync(string client)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{Issuer}/token")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["scope"] = "api" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{client}:{client}-secret")));
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("access_token").GetString()!;
    }
}

public sealed class OidcProviderTests(OidcApiFixture fixture) : IClassFixture<OidcApiFixture>, IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        // The school, its class with a default student budget, and another school: made by the platform admin.
        await fixture.Http.PostAsJsonAsync("/v1/admin/orgs", new { id = "northfield", name = "Northfield School" });
        await fixture.Http.PostAsJsonAsync("/v1/admin/orgs/northfield/teams", new { id = "10-b", name = "Class 10-B", memberDefault = new { daily = 1m } });
        await fixture.Http.PostAsJsonAsync("/v1/admin/orgs", new { id = "southgate", name = "Southgate School" });
        await fixture.Http.PostAsJsonAsync("/v1/admin/orgs/southgate/teams", new { id = "7-a", name = "Class 7-A" });
    }

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task StudentsToken_Works_OnHttp_Sse_WebSocket_Grpc_AndConsoleSignIn()
    {
        var token = await fixture.TokenAsync("student-ada");
        using var http = fixture.Client(token);

        Assert.Equal(HttpStatusCode.OK, (await http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0))).StatusCode);

        using (var stream = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "chat-lm", stream = true, max_tokens = 8, messages = new[] { new { role = "user", content = "Hello" } } }),
        }, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
            Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
            Assert.Contains("data: [DONE]", await stream.Content.ReadAsStringAsync());
        }

        using (var socket = new ClientWebSocket())
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {token}");
            await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{fixture.BaseAddress.Port}/v2/ws"), CancellationToken.None);
            var message = KServe.DigitsBody(0).AsObject();
            message["model"] = "digits";
            await socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
            var buffer = new byte[1 << 16];
            var received = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
            var answer = JsonNode.Parse(buffer.AsSpan(0, received.Count))!.AsObject();
            Assert.True(answer.ContainsKey("outputs"), answer.ToJsonString());
        }

        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{fixture.GrpcPort}");
        var metadata = await new GRPCInferenceService.GRPCInferenceServiceClient(channel)
            .ServerMetadataAsync(new ServerMetadataRequest(), new GrpcMetadata { { "authorization", $"Bearer {token}" } });
        Assert.False(string.IsNullOrEmpty(metadata.Name));

        // Console sign-in with the same token: a session for ada that shows her own budget (the class default).
        var cookie = await SessionSecurityTests.SignInAsync(fixture.BaseAddress, token);
        using var browser = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = fixture.BaseAddress };
        using var own = new HttpRequestMessage(HttpMethod.Get, "/console/me/budget");
        own.Headers.Add("Cookie", cookie);
        var budget = await (await browser.SendAsync(own)).JsonAsync();
        Assert.Equal(("ada", 1m), (budget.GetProperty("user").GetString(), budget.GetProperty("limits").GetProperty("daily").GetDecimal()));
    }

    [Fact]
    public async Task TeacherSeesTheirClass_HeadSeesTheSchool_NeitherSeesAnotherSchool()
    {
        using var ada = fixture.Client(await fixture.TokenAsync("student-ada"));
        Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync("/v1/budget")).StatusCode); // provisioned at first sight

        using var grace = fixture.Client(await fixture.TokenAsync("teacher-grace"));
        var members = await (await grace.GetAsync("/v1/admin/orgs/northfield/teams/10-b/members")).JsonAsync();
        Assert.Contains(members.GetProperty("items").EnumerateArray(), u => u.GetProperty("id").GetString() == "ada");
        Assert.Equal(HttpStatusCode.NotFound, (await grace.GetAsync("/v1/admin/orgs/southgate/teams/7-a/members")).StatusCode);

        using var edsger = fixture.Client(await fixture.TokenAsync("head-edsger"));
        var users = await (await edsger.GetAsync("/v1/admin/orgs/northfield/users")).JsonAsync();
        Assert.Contains(users.GetProperty("items").EnumerateArray(), u => u.GetProperty("id").GetString() == "ada");
        using var elsewhere = await edsger.GetAsync("/v1/admin/orgs/southgate/users");
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
        Assert.Contains("no organization has id 'southgate'", (await elsewhere.JsonAsync()).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task TokenWithoutTheOrganizationClaim_Is401NamingIt()
    {
        using var nobody = fixture.Client(await fixture.TokenAsync("no-org"));

        using var refused = await nobody.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0));

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("lacks the 'org' claim", (await refused.JsonAsync()).GetProperty("error").GetString());
    }

    [Fact]
    public async Task ProviderRotatesItsKey_TheNewKeyIsFetched_AndTokensKeepWorking()
    {
        using var before = fixture.Client(await fixture.TokenAsync("student-alan"));
        Assert.Equal(HttpStatusCode.OK, (await before.GetAsync("/v1/budget")).StatusCode);

        using var provider = new HttpClient { BaseAddress = new Uri(fixture.Issuer) };
        var fetches = await JwksFetchesAsync(provider);
        Assert.Equal(HttpStatusCode.OK, (await provider.PostAsync("/test/rotate", null)).StatusCode);
        using var after = fixture.Client(await fixture.TokenAsync("student-alan"));

        await Eventually.TrueAsync(async () => (await after.GetAsync("/v1/budget")).StatusCode == HttpStatusCode.OK,
            "a token signed with the rotated key to be accepted", TimeSpan.FromSeconds(15));

        Assert.True(await JwksFetchesAsync(provider) > fetches);
        Assert.Equal(HttpStatusCode.OK, (await before.GetAsync("/v1/budget")).StatusCode); // the old key stays published
    }

    private static async Task<int> JwksFetchesAsync(HttpClient provider) =>
        (await (await provider.GetAsync("/test/jwks-fetches")).JsonAsync()).GetProperty("count").GetInt32();
}
