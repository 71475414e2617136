using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// Faults injected into one model version by an admin (off by default): its requests fail at the set rate with a
/// 503 naming the injection, or take the extra latency; other versions are untouched; clearing them ends it.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class FaultInjectionTests(ApiFixture fixture)
{
    private const string Faults = "/v1/admin/models/digits/versions/1/faults";

    [Fact]
    public async Task AnErrorRateOfOne_FailsEveryRequestToThatVersionOnly_UntilCleared()
    {
        try
        {
            Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync(Faults, new { errorRate = 1.0, extraLatencyMs = 0 })).StatusCode);

            var refused = await UntilAsync(() => Infer("1"), r => r.StatusCode == HttpStatusCode.ServiceUnavailable); // routers refresh every second
            Assert.Contains("injected by an operator", JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
            Assert.Equal(HttpStatusCode.OK, (await Infer("2")).StatusCode);
        }
        finally
        {
            Assert.Equal(HttpStatusCode.NoContent, (await fixture.Http.DeleteAsync(Faults)).StatusCode);
        }

        await UntilAsync(() => Infer("1"), r => r.StatusCode == HttpStatusCode.OK);
    }

    [Fact]
    public async Task ExtraLatency_DelaysEveryRequestToThatVersion()
    {
        try
        {
            Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync(Faults, new { errorRate = 0.0, extraLatencyMs = 400 })).StatusCode);

            await UntilAsync(async () =>
            {
                var clock = Stopwatch.StartNew();
                var response = await Infer("1");
                return (response, clock.Elapsed);
            }, r => r.response.StatusCode == HttpStatusCode.OK && r.Elapsed >= TimeSpan.FromMilliseconds(400));
        }
        finally
        {
            await fixture.Http.DeleteAsync(Faults);
        }
    }

    [Theory]
    [InlineData("""{"errorRate": 1.5, "extraLatencyMs": 0}""", "errorRate")]
    [InlineData("""{"errorRate": 0.1, "extraLatencyMs": -1}""", "extraLatencyMs")]
    [InlineData("""{"errorRate": "lots", "extraLatencyMs": 0}""", "errorRate")]
    public async Task BadFaults_Are400sNamingTheField(string body, string field)
    {
        using var response = await fixture.Http.PutAsync(Faults, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(field, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("field").GetString());
    }

    [Fact]
    public async Task OnlyAdminsInjectFaults()
    {
        using var user = fixture.Client(await fixture.NewUserKeyAsync("faults-user"));

        Assert.Equal(HttpStatusCode.Forbidden, (await user.PutAsJsonAsync(Faults, new { errorRate = 1.0, extraLatencyMs = 0 })).StatusCode);
    }

    private Task<HttpResponseMessage> Infer(string version) =>
        fixture.Http.PostAsJsonAsync($"/v2/models/digits/versions/{version}/infer", KServe.DigitsBody(0));

    private static async Task<T> UntilAsync<T>(Func<Task<T>> attempt, Func<T, bool> done)
    {
        var giveUp = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var result = await attempt();
            if (done(result))
            {
                return result;
            }

            Assert.True(DateTime.UtcNow < giveUp, "the routers did not take the new faults within 10 s");
            await Task.Delay(100);
        }
    }
}
