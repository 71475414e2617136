using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// The response cache is per user by default: a hit never tells one user what another asked, and hits, though free,
/// count toward the user's requests per minute.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class CacheScopeTests(ApiFixture fixture)
{
    [Fact]
    public async Task AnotherUsersIdenticalRequest_IsAMiss_AndTheSameUsersIsAHit()
    {
        using var alice = fixture.Client(await fixture.NewUserKeyAsync("cache-alice"));
        using var bob = fixture.Client(await fixture.NewUserKeyAsync("cache-bob"));
        var body = new { model = "text-encoder", input = "a prompt only alice has sent " + Guid.NewGuid().ToString("N")[..8] };

        Assert.Equal("miss", await CacheHeaderAsync(alice, body));
        Assert.Equal("miss", await CacheHeaderAsync(bob, body));
        Assert.Equal("hit", await CacheHeaderAsync(alice, body));
    }

    [Fact]
    public async Task CachedAnswers_CountTowardRequestsPerMinute()
    {
        using var carol = fixture.Client(await fixture.NewUserKeyAsync("cache-carol"));
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync("/v1/admin/budgets/cache-carol", new { requestsPerMinute = 2 })).StatusCode);
        var body = new { model = "text-encoder", input = "the same words again and again" };

        Assert.Equal("miss", await CacheHeaderAsync(carol, body));
        Assert.Equal("hit", await CacheHeaderAsync(carol, body));
        using var third = await carol.PostAsJsonAsync("/v1/embeddings", body);

        Assert.Equal(HttpStatusCode.TooManyRequests, third.StatusCode);
        var error = JsonDocument.Parse(await third.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("rate_limited", error.GetProperty("code").GetString());
        Assert.True(third.Headers.RetryAfter is not null);
    }

    private static async Task<string> CacheHeaderAsync(HttpClient http, object body)
    {
        using var response = await http.PostAsJsonAsync("/v1/embeddings", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return response.Headers.GetValues("x-aifleet-cache").Single();
    }
}
