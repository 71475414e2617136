using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.ClientApi.Tests.Lifecycle;

/// <summary>
/// A model's traffic policy, set by an admin: a sticky weighted split (each user stays in one arm), an explicit
/// version that bypasses it, and a shadow whose answers users never see and never pay for.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class TrafficPolicyTests(LifecycleFixture fixture)
{
    [Fact]
    public void A70To30Split_Over10000Users_GivesEachArmItsShare_AndGrowingAnArmOnlyMovesUsersIntoIt()
    {
        var policy = new TrafficPolicy("1", [new("2", 3000), new("1", 7000)], null);
        var grown = policy with { Split = [new("2", 5000), new("1", 5000)] };
        var users = Enumerable.Range(0, 10_000).Select(i => $"user-{i}").ToArray();

        var inTwo = users.Count(u => policy.Choose("digits", u) == "2");
        Assert.InRange(inTwo, 2850, 3150); // 30 % ± 1.5 points: over three standard deviations of a fair draw

        Assert.All(users.Where(u => policy.Choose("digits", u) == "2"), u => Assert.Equal("2", grown.Choose("digits", u)));
        Assert.InRange(users.Count(u => grown.Choose("digits", u) == "2"), 4850, 5150);
    }

    [Fact]
    public async Task ASplit_SendsEachUserToOneVersion_InTheSetShares_AndSaysWhichAnswered()
    {
        await SetTrafficAsync("split", new { defaultVersion = "2", split = new[] { new { version = "1", percent = 70.0 }, new { version = "2", percent = 30.0 } } });

        // Routers read the policy at their next refresh (each second): wait until version 1 answers someone.
        await fixture.DriveAsync("split", users: 100, t => t.ByVersion.ContainsKey("1"), parallel: 1);

        var router = fixture.Grains.GetGrain<IInferenceRouterGrain>(0);
        var seen = new Dictionary<string, HashSet<string>>();
        for (var round = 0; round < 3; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 2000).Chunk(50).Select(async chunk =>
            {
                foreach (var u in chunk)
                {
                    var answer = await router.InferAsync(new InferenceRequest("split", null, [Samples.HeldOutPixels(u)], User: $"user-{u}"));
                    lock (seen)
                    {
                        (seen.TryGetValue($"user-{u}", out var versions) ? versions : seen[$"user-{u}"] = []).Add(answer.Version);
                    }
                }
            }));
        }

        Assert.All(seen.Values, versions => Assert.Single(versions)); // sticky: three requests each, one version each
        Assert.InRange(seen.Values.Count(v => v.Contains("1")), 1300, 1500); // 70 % of 2,000 users ± 5 points

        using var user = fixture.Client(await fixture.NewUserKeyAsync("split-user"));
        using var response = await user.PostJsonAsync("/v2/models/split/infer", KServe.DigitsBody(0));
        var body = await response.JsonAsync();
        var version = body.GetProperty("model_version").GetString();
        Assert.Equal($"split/{version}", response.Headers.GetValues("x-aifleet-model").Single());
        Assert.Equal("digits-0", body.GetProperty("id").GetString()); // the client's id, echoed in the body
        Assert.Matches("^[0-9a-f]{32}$", response.Headers.GetValues("x-aifleet-request-id").Single()); // the server's own, for feedback
    }

    [Fact]
    public async Task AnExplicitVersion_BypassesTheSplit()
    {
        await SetTrafficAsync("split", new { defaultVersion = "2", split = new[] { new { version = "1", percent = 100.0 }, new { version = "2", percent = 0.0 } } });
        await fixture.DriveAsync("split", users: 10, t => t.ByVersion.GetValueOrDefault("1") >= 5 && !t.ByVersion.ContainsKey("2"), parallel: 1);

        using var response = await fixture.Http.PostJsonAsync("/v2/models/split/versions/2/infer", KServe.DigitsBody(0));

        Assert.Equal("2", (await response.JsonAsync()).GetProperty("model_version").GetString());
    }

    [Fact]
    public async Task AShadow_IsAnsweredComparedAndDiscarded_NeverShownNorCharged()
    {
        const decimal cost = 0.00001m; // digits' costPerInference
        await SetTrafficAsync("shadow", new { defaultVersion = "2", shadow = new { version = "1", percent = 100.0 } });
        await Task.Delay(1200); // routers take the policy at their next refresh

        using var user = fixture.Client(await fixture.NewUserKeyAsync("shadow-user"));
        for (var i = 0; i < 20; i++)
        {
            using var response = await user.PostJsonAsync("/v2/models/shadow/infer", KServe.DigitsBody(i % 8));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("2", (await response.JsonAsync()).GetProperty("model_version").GetString());
        }

        var mirrored = await UntilAsync(async () => Version(await ReportAsync("shadow"), "1"), v => v.ValueKind == JsonValueKind.Object && v.GetProperty("mirrored").GetInt64() >= 20);
        Assert.Equal(0, mirrored.GetProperty("requests").GetInt64()); // no user was answered by it
        Assert.InRange(mirrored.GetProperty("agreement").GetDouble(), 0.5, 1.0); // v1 and v2 mostly agree on held-out digits

        // Charged for the 20 answers they got, not for the 20 mirrored copies.
        var usage = await UntilAsync(async () => await user.GetFromJsonAsync<JsonElement>("/v1/usage"), u => u.GetProperty("totalRequests").GetInt64() >= 20);
        Assert.Equal(20 * cost, usage.GetProperty("totalSpend").GetDecimal());
    }

    [Theory]
    [InlineData("""{"split": [{"version": "1", "percent": 60}, {"version": "2", "percent": 30}]}""", "split")]
    [InlineData("""{"split": [{"version": "9", "percent": 100}]}""", "split")]
    [InlineData("""{"split": [{"version": "1", "percent": 33.333}, {"version": "2", "percent": 66.667}]}""", "split[0].percent")]
    [InlineData("""{"defaultVersion": "7"}""", "defaultVersion")]
    [InlineData("""{"shadow": {"version": "1", "percent": 0}}""", "shadow")]
    public async Task ABadPolicy_IsA400NamingTheField(string body, string field)
    {
        using var response = await fixture.Http.PutAsync("/v1/admin/models/split/traffic", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(field, (await response.JsonAsync()).GetProperty("field").GetString());
    }

    [Fact]
    public async Task OnlyAdminsSetTraffic()
    {
        using var user = fixture.Client(await fixture.NewUserKeyAsync("traffic-user"));

        Assert.Equal(HttpStatusCode.Forbidden, (await user.PutAsJsonAsync("/v1/admin/models/split/traffic", new { defaultVersion = "1" })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/v1/admin/models/split/traffic")).StatusCode);
    }

    private async Task SetTrafficAsync(string model, object policy)
    {
        using var response = await fixture.Http.PutAsJsonAsync($"/v1/admin/models/{model}/traffic", policy);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    internal static async Task<JsonElement> ReportAsync(HttpClient http, string model) =>
        (await http.GetFromJsonAsync<JsonElement>("/v1/experiments")).GetProperty("models").EnumerateArray()
            .Single(m => m.GetProperty("model").GetString() == model);

    private Task<JsonElement> ReportAsync(string model) => ReportAsync(fixture.Http, model);

    internal static JsonElement Version(JsonElement model, string version) =>
        model.GetProperty("versions").EnumerateArray().FirstOrDefault(v => v.GetProperty("version").GetString() == version);

    internal static async Task<T> UntilAsync<T>(Func<Task<T>> attempt, Func<T, bool> done, int seconds = 15)
    {
        var giveUp = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var result = await attempt();
            if (done(result))
            {
                return result;
            }

            Assert.True(DateTime.UtcNow < giveUp, $"not done within {seconds} s: {result}");
            await Task.Delay(100);
        }
    }
}
