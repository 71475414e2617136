using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>API keys over real HTTP: every route against no key, a wrong key, a user's key and an admin's.</summary>
[Collection(ApiCollection.Name)]
public sealed class AuthApiTests(ApiFixture fixture)
{
    public enum Shape { KServe, OpenAi, Problem }

    /// <summary>Every route but health and metrics, with the error shape its protocol uses, and whether users may call it.</summary>
    public static TheoryData<string, string, Shape, bool> Routes => new()
    {
        { "GET", "/v2", Shape.KServe, true },
        { "GET", "/v2/models/digits", Shape.KServe, true },
        { "GET", "/v2/models/digits/versions/2", Shape.KServe, true },
        { "GET", "/v2/models/digits/ready", Shape.KServe, true },
        { "POST", "/v2/models/digits/infer", Shape.KServe, true },
        { "POST", "/v2/models/digits/versions/2/infer", Shape.KServe, true },
        { "GET", "/v1/models", Shape.OpenAi, true },
        { "GET", "/v1/models/digits", Shape.OpenAi, true },
        { "POST", "/v1/embeddings", Shape.OpenAi, true },
        { "GET", "/v1/budget", Shape.Problem, true },
        { "GET", "/v1/usage", Shape.Problem, true },
        { "GET", "/v1/fleet", Shape.Problem, false },
        { "GET", "/v1/fleet/digits", Shape.Problem, false },
        { "GET", "/v1/admin/keys", Shape.Problem, false },
        { "POST", "/v1/admin/keys", Shape.Problem, false },
        { "DELETE", "/v1/admin/keys/key_nope", Shape.Problem, false },
        { "GET", "/v1/admin/budgets/someone", Shape.Problem, false },
        { "PUT", "/v1/admin/budgets/someone", Shape.Problem, false },
        { "GET", "/v1/admin/usage", Shape.Problem, false },
        { "GET", "/dashboard/", Shape.Problem, false },
        { "GET", "/dashboard/DashboardCounters", Shape.Problem, false },
    };

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Route_WithoutAKey_Is401_InTheProtocolsErrorShape(string method, string path, Shape shape, bool forUsers)
    {
        _ = forUsers;
        using var anonymous = fixture.Client();
        using var wrong = fixture.Client("afk_not-a-key-at-all");

        foreach (var http in new[] { anonymous, wrong })
        {
            using var response = await SendAsync(http, method, path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            AssertShape(shape, await response.Content.ReadAsStringAsync(), http == anonymous ? "API key is required" : "not valid");
        }
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Route_WithAUsersKey_IsServedOr403(string method, string path, Shape shape, bool forUsers)
    {
        using var user = fixture.Client(await NewKeyAsync($"u-{Guid.NewGuid():N}", "user"));

        using var response = await SendAsync(user, method, path);

        if (forUsers)
        {
            Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.NotEqual(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.True((int)response.StatusCode < 500, $"{method} {path}: {(int)response.StatusCode}");
        }
        else
        {
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            AssertShape(shape, await response.Content.ReadAsStringAsync(), "role may not use this route");
        }
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Route_WithTheAdminKey_IsServed(string method, string path, Shape shape, bool forUsers)
    {
        _ = (shape, forUsers);
        using var response = await SendAsync(fixture.Http, method, path);

        Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.NotEqual(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.True((int)response.StatusCode < 500, $"{method} {path}: {(int)response.StatusCode}");
    }

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    [InlineData("/v2/health/live")]
    [InlineData("/v2/health/ready")]
    [InlineData("/metrics")]
    public async Task HealthAndMetrics_NeedNoKey(string path)
    {
        using var anonymous = fixture.Client();

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task IssuedKey_Works_ThenRevoked_Is401_AndNeverListedWithItsSecret()
    {
        var user = $"u-{Guid.NewGuid():N}";
        var created = await (await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user", name = "laptop" })).JsonAsync();
        var key = created.GetProperty("key").GetString()!;
        var id = created.GetProperty("id").GetString()!;
        Assert.StartsWith("afk_", key);
        using var http = fixture.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0))).StatusCode);

        var listed = (await (await fixture.Http.GetAsync("/v1/admin/keys")).JsonAsync()).EnumerateArray().Single(k => k.GetProperty("id").GetString() == id);
        Assert.Equal((user, "user", "laptop"), (listed.GetProperty("user").GetString(), listed.GetProperty("role").GetString(), listed.GetProperty("name").GetString()));
        Assert.Equal(JsonValueKind.Null, listed.GetProperty("key").ValueKind);
        Assert.DoesNotContain(key, await (await fixture.Http.GetAsync("/v1/admin/keys")).Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.NoContent, (await fixture.Http.DeleteAsync($"/v1/admin/keys/{id}")).StatusCode);

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.DeleteAsync("/v1/admin/keys/key_never")).StatusCode);
    }

    [Fact]
    public async Task AdminSetsAUsersBudget_TheUserSeesOnlyTheirOwn()
    {
        var alice = $"alice-{Guid.NewGuid():N}";
        var bob = $"bob-{Guid.NewGuid():N}";
        using var aliceHttp = fixture.Client(await NewKeyAsync(alice, "user"));
        using var bobHttp = fixture.Client(await NewKeyAsync(bob, "user"));

        var set = await fixture.Http.PutAsJsonAsync($"/v1/admin/budgets/{alice}", new { daily = 2.5m, requestsPerMinute = 60 });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);

        var own = await (await aliceHttp.GetAsync("/v1/budget")).JsonAsync();
        Assert.Equal(alice, own.GetProperty("user").GetString());
        Assert.Equal(2.5m, own.GetProperty("limits").GetProperty("daily").GetDecimal());
        var bobs = await (await bobHttp.GetAsync("/v1/budget")).JsonAsync();
        Assert.Equal(JsonValueKind.Null, bobs.GetProperty("limits").GetProperty("daily").ValueKind);
        Assert.Equal(HttpStatusCode.Forbidden, (await bobHttp.GetAsync($"/v1/admin/budgets/{alice}")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await bobHttp.GetAsync("/v1/admin/usage")).StatusCode);
    }

    [Theory]
    [InlineData("POST", "/v1/admin/keys", """{"user":"x","role":"root"}""", "'role' must be 'user' or 'admin'")]
    [InlineData("POST", "/v1/admin/keys", """{"role":"user"}""", "'user' must be 1 to 128 printable characters")]
    [InlineData("PUT", "/v1/admin/budgets/someone", """{"daily":-1}""", "caps must be zero or more")]
    [InlineData("PUT", "/v1/admin/budgets/someone", """{"daily":"lots"}""", "'daily' has the wrong type")]
    [InlineData("GET", "/v1/usage?from=2026-11-20&to=2026-11-01", null, "is after 'to'")]
    [InlineData("GET", "/v1/admin/usage?from=2024-01-01&to=2026-11-01", null, "at most 367 days")]
    [InlineData("GET", "/v1/usage?from=yesterday", null, "yesterday")]
    public async Task BadAdminOrUsageInput_Is400_NamingTheProblem(string method, string path, string? body, string expected)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        }

        using var response = await fixture.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, await response.Content.ReadAsStringAsync());
    }

    private async Task<string> NewKeyAsync(string user, string role)
    {
        var response = await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user, role });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("key").GetString()!;
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, string method, string path)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method is "POST" or "PUT")
        {
            JsonNode body = path.EndsWith("/infer", StringComparison.Ordinal) ? KServe.DigitsBody(0)
                : path == "/v1/embeddings" ? new JsonObject { ["model"] = "text-encoder", ["input"] = "hello" }
                : path.Contains("/budgets/", StringComparison.Ordinal) ? new JsonObject { ["daily"] = 1 }
                : new JsonObject { ["user"] = $"u-{Guid.NewGuid():N}", ["role"] = "user" };
            request.Content = new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        }

        return http.SendAsync(request);
    }

    private static void AssertShape(Shape shape, string body, string contains)
    {
        using var doc = JsonDocument.Parse(body);
        if (shape == Shape.KServe)
        {
            Assert.Contains(contains, doc.RootElement.GetProperty("error").GetString());
        }
        else if (shape == Shape.OpenAi)
        {
            Assert.Contains(contains, doc.RootElement.GetProperty("error").GetProperty("message").GetString());
        }
        else
        {
            Assert.Contains(contains, doc.RootElement.GetProperty("detail").GetString());
        }
    }
}
