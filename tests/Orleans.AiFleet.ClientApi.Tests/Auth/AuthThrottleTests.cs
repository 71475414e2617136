using System.Net;
using Microsoft.AspNetCore.Hosting;

namespace Orleans.AiFleet.ClientApi.Tests.Auth;

/// <summary>A host of its own that allows 5 failed attempts a minute per address, with keys cached as in production.</summary>
public sealed class ThrottledApiFixture() : ApiFixtureBase(TestRepository.CopyOfShipped())
{
    protected override int FailedAttemptsPerMinute => 5;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("AiFleet:Auth:CacheSeconds", "60");
    }
}

/// <summary>Guessing keys from one address stops paying: past the failed attempts of a minute, 429 without a lookup.</summary>
public sealed class AuthThrottleTests(ThrottledApiFixture fixture) : IClassFixture<ThrottledApiFixture>
{
    [Fact]
    public async Task FailedKeysAndSignIns_PastTheLimit_Are429_WhileAKeyAlreadyKnownValidStillWorks()
    {
        var known = fixture.Client(await fixture.NewUserKeyAsync($"known-{Guid.NewGuid():N}"));
        Assert.Equal(HttpStatusCode.OK, (await known.GetAsync("/v1/budget")).StatusCode);
        using var guesser = fixture.Client("afk_" + new string('A', 43));

        var codes = new List<HttpStatusCode>();
        for (var i = 0; i < 7; i++)
        {
            codes.Add((await guesser.GetAsync("/v1/budget")).StatusCode);
        }

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Unauthorized, 5).Concat(Enumerable.Repeat(HttpStatusCode.TooManyRequests, 2)), codes);
        using var refused = await guesser.GetAsync("/v1/budget");
        Assert.Equal("60", refused.Headers.RetryAfter!.ToString());
        Assert.Equal(HttpStatusCode.OK, (await known.GetAsync("/v1/budget")).StatusCode);

        var (client, token) = await SessionSecurityTests.SignInFormAsync(fixture.BaseAddress);
        using (client)
        {
            using var signIn = await client.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = "wrong", [token.Name] = token.Value }));
            Assert.Equal(HttpStatusCode.TooManyRequests, signIn.StatusCode);
        }
    }
}
