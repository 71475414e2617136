namespace Orleans.AiFleet.ClientApi.Tests;

[Collection(ApiCollection.Name)]
public sealed class DashboardTests(ApiFixture fixture)
{
    [Fact]
    public async Task Dashboard_ServesItsPageAtSlashDashboard()
    {
        var response = await fixture.Http.GetAsync("/dashboard/");

        response.EnsureSuccessStatusCode();
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<title>Orleans Dashboard</title>", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task DashboardCounters_ShowTheSiloAndTheFleetsGrains()
    {
        await fixture.Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0));

        var giveUp = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            // The dashboard collects every second, so a young silo may not be listed yet.
            var counters = await (await fixture.Http.GetAsync("/dashboard/DashboardCounters")).JsonAsync();
            var hosts = counters.GetProperty("hosts").EnumerateArray().ToArray();
            var grainTypes = counters.GetProperty("simpleGrainStats").EnumerateArray()
                .Select(g => g.GetProperty("grainType").GetString()).ToHashSet();
            if (hosts.Length > 0
                && grainTypes.Contains("Orleans.AiFleet.Grains.Replicas.ModelReplicaGrain")
                && grainTypes.Contains("Orleans.AiFleet.Grains.Fleet.ModelFleetGrain"))
            {
                Assert.Equal("Active", Assert.Single(hosts).GetProperty("status").GetString());
                return;
            }

            Assert.True(DateTime.UtcNow < giveUp, $"the dashboard shows no replica or fleet grains within 20 s: {string.Join(", ", grainTypes)}");
            await Task.Delay(250);
        }
    }
}
