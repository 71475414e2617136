using System.Net;
using System.Net.Http.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>The series an on-call engineer alerts on, read from /metrics after real traffic.</summary>
[Collection(ApiCollection.Name)]
public sealed class MetricsTests(ApiFixture fixture)
{
    [Fact]
    public async Task Metrics_AfterTraffic_ReportReplicasQueuesSpendAndRefusals()
    {
        var user = $"metrics-{Guid.NewGuid():N}";
        using var http = fixture.Client(await fixture.NewUserKeyAsync(user, "premium"));
        var before = await ScrapeAsync();
        var spentBefore = Scrape.Sum(before, "aifleet_budget_spend_dollars_total", "model=\"text-encoder\"", "tier=\"premium\"");
        var refusedBefore = Scrape.Sum(before, "aifleet_budget_refusals_total", "limit=\"per_request_cap\"");

        using var embedded = await http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = $"spend for {user}" });
        Assert.Equal(HttpStatusCode.OK, embedded.StatusCode);
        using var capped = await fixture.Http.PutAsJsonAsync($"/v1/admin/budgets/{user}", new { perRequest = 0.000001m });
        Assert.Equal(HttpStatusCode.OK, capped.StatusCode);
        using var refused = await http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = $"refused for {user}" });
        Assert.NotEqual(HttpStatusCode.OK, refused.StatusCode);

        var after = await ScrapeAsync();
        Assert.True(Scrape.Sum(after, "aifleet_budget_spend_dollars_total", "model=\"text-encoder\"", "tier=\"premium\"") > spentBefore, "spend by model and tier did not move after a charged embedding");
        Assert.Matches(@"(?m)^aifleet_budget_open_holds(\{[^}]*\})? \d+", after);
        Assert.Equal(refusedBefore + 1, Scrape.Sum(after, "aifleet_budget_refusals_total", "limit=\"per_request_cap\""));
        Assert.True(Scrape.Sum(after, "aifleet_fleet_desired_replicas", "model=\"digits\"", "version=\"2\"") >= 2);
        Assert.True(Scrape.Sum(after, "aifleet_fleet_ready_replicas", "model=\"digits\"", "version=\"2\"") >= 2);
        Assert.Equal(0, Scrape.Sum(after, "aifleet_inference_queue_length", "model=\"digits\"", "version=\"2\""));
    }

    [Fact]
    public async Task Metrics_AnotherHostInTheProcess_NeitherAddsToNorRemovesThisHostsSeries()
    {
        using var body = await fixture.Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(1));
        Assert.Equal(HttpStatusCode.OK, body.StatusCode);
        var before = Scrape.Sum(await ScrapeAsync(), "aifleet_inference_requests_total", "model=\"digits\"");
        Assert.True(before >= 1, "this host's digits requests are not in its scrape");

        // A second host in the same process makes meters of the same name, serves 3 requests and stops.
        IAsyncLifetime other = new DigitsOnlyApiFixture();
        try
        {
            await other.InitializeAsync();
            var otherHttp = ((DigitsOnlyApiFixture)other).Http;
            for (var i = 0; i < 3; i++)
            {
                using var answer = await otherHttp.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(1));
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            }
            Assert.Equal(3, Scrape.Sum(await otherHttp.GetStringAsync("/metrics"), "aifleet_inference_requests_total", "model=\"digits\""));
        }
        finally
        {
            await other.DisposeAsync();
        }

        using var after = await fixture.Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(1));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        Assert.Equal(before + 1, Scrape.Sum(await ScrapeAsync(), "aifleet_inference_requests_total", "model=\"digits\""));
    }

    private sealed class DigitsOnlyApiFixture() : ApiFixtureBase(TestRepository.Create("digits", ("digits", _ => { })));

    private async Task<string> ScrapeAsync()
    {
        // The exporter caches a scrape briefly; a fresh one is wanted after the traffic.
        await Task.Delay(TimeSpan.FromSeconds(1.1));
        return await fixture.Http.GetStringAsync("/metrics");
    }
}
