using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>Money is exact: a non-zero price never charges $0, so a $0 budget never passes a paid request.</summary>
[Collection(ApiCollection.Name)]
public sealed class MoneyTests(ApiFixture fixture)
{
    private static readonly object TinyChat = new { model = "chat-lm", messages = new[] { new { role = "user", content = "a" } }, max_tokens = 2, temperature = 0.7 };

    [Fact]
    public async Task ATinyChat_IsChargedAboveZero_ToTheNanoDollar()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("money-tiny"));

        using var response = await http.PostAsJsonAsync("/v1/chat/completions", TinyChat);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var cost = decimal.Parse(response.Headers.GetValues("x-aifleet-cost").Single(), CultureInfo.InvariantCulture);
        var usage = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("usage");
        var tokens = usage.GetProperty("total_tokens").GetInt32();
        Assert.Equal(tokens * 0.0001m / 1000m, cost); // chat-lm: $0.0001 per 1k tokens, exactly
        Assert.True(cost > 0m);
    }

    [Fact]
    public async Task AZeroBudget_RefusesATinyChat()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("money-zero"));
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync("/v1/admin/budgets/money-zero", new { daily = 0m })).StatusCode);

        using var response = await http.PostAsJsonAsync("/v1/chat/completions", TinyChat);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("budget_exceeded", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task ChatLmOverKServe_IsChargedItsTokens_AndASpentCapRefusesIt()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("money-kserve-lm"));
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync("/v1/admin/budgets/money-kserve-lm", new { daily = 0.000002m })).StatusCode);

        // 2 rows × 5 tokens at $0.0001 per 1k: $0.000001 each, so the $0.000002 cap pays for exactly two.
        var codes = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await http.PostAsJsonAsync("/v2/models/chat-lm/infer", KServe.ChatLmBody(2, 5));
            codes.Add(response.StatusCode);
        }

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], codes);
        await Eventually.TrueAsync(async () => (await http.GetFromJsonAsync<JsonElement>("/v1/usage")).GetProperty("totalSpend").GetDecimal() == 0.000002m,
            "the two served calls charged $0.000001 each");
    }

    [Fact]
    public async Task Embeddings_OneBadTokenIdAmong256_RefusedBeforeAnyRuns_NamingTheInput_NothingCharged()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("money-embed-bad"));
        var inputs = Enumerable.Range(0, 256).Select(i => new long[] { 2, 50 + i, 3 }).ToArray();
        inputs[255] = [2, 999_999, 3];

        using var response = await http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = inputs });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("input 255 holds token id 999999; model 'text-encoder' takes ids from 0 to 4676", error.GetProperty("message").GetString());
        var budget = await http.GetFromJsonAsync<JsonElement>("/v1/budget");
        Assert.Equal(0m, budget.GetProperty("spentToday").GetDecimal());
        Assert.Equal(0, budget.GetProperty("openReservations").GetInt32());
    }
}
