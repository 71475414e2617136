using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// <c>/v2</c> is a product route: every inference is charged to the key's user at the model's cost, under their caps
/// and requests per minute, through a leased slice of their budget, and never beyond it.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class KServeMeteringTests(ApiFixture fixture)
{
    private const decimal DigitCost = 0.00001m; // models/digits/config.json: costPerInference

    [Fact]
    public async Task AZeroBudget_GetsNoInference_Over_V2()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("v2-zero"));
        await SetBudgetAsync("v2-zero", new { daily = 0m });

        using var response = await http.PostAsJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Contains("daily_cap", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        Assert.NotNull(response.Headers.RetryAfter);
    }

    [Fact]
    public async Task ABudgetForTenInferences_GrantsExactlyTen_OfSixtyFourConcurrent_AndChargesThem()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("v2-ten"));
        await SetBudgetAsync("v2-ten", new { daily = 10 * DigitCost });

        var responses = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => http.PostAsJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(i % 10))));

        Assert.Equal(10, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.OK), r => Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode));
        var usage = await UsageWhenSettledAsync(http, requests: 10);
        Assert.Equal(10 * DigitCost, usage.GetProperty("totalSpend").GetDecimal());
    }

    [Fact]
    public async Task Inferences_AreChargedPerRow_AndSettledFromTheLease()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("v2-rows"));

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(i, rows: 3))).StatusCode);
        }

        var usage = await UsageWhenSettledAsync(http, requests: 5);
        Assert.Equal(15 * DigitCost, usage.GetProperty("totalSpend").GetDecimal());
    }

    [Fact]
    public async Task RequestsPerMinute_BoundV2()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("v2-rpm"));
        await SetBudgetAsync("v2-rpm", new { requestsPerMinute = 5 });

        var codes = new List<HttpStatusCode>();
        for (var i = 0; i < 7; i++)
        {
            codes.Add((await http.PostAsJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(i))).StatusCode);
        }

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.OK, 5).Concat(Enumerable.Repeat(HttpStatusCode.TooManyRequests, 2)), codes);
    }

    private async Task SetBudgetAsync(string user, object limits) =>
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync($"/v1/admin/budgets/{user}", limits)).StatusCode);

    /// <summary>The user's usage once the router has returned its idle slice (about two seconds after the last call).</summary>
    private static async Task<JsonElement> UsageWhenSettledAsync(HttpClient http, int requests)
    {
        var giveUp = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var usage = await http.GetFromJsonAsync<JsonElement>("/v1/usage");
            if (usage.GetProperty("totalRequests").GetInt64() >= requests)
            {
                Assert.Equal(requests, usage.GetProperty("totalRequests").GetInt64());
                return usage;
            }

            Assert.True(DateTime.UtcNow < giveUp, $"the lease was not settled within 20 s: {usage}");
            await Task.Delay(200);
        }
    }
}
