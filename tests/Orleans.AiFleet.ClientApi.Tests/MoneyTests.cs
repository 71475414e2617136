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
}
