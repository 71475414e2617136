using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// The remote catalogue on a fake provider, plus <c>scaling</c>: digits that queue each batch for 2 s, want 1 request
/// in flight per replica and scale from 1 to 2 replicas after 500 ms, so a burst of requests makes a scaling decision.
/// </summary>
public sealed class ConsoleLiveFixture : ApiFixtureBase
{
    public ConsoleLiveFixture() : this(FakeOpenAiProvider.StartAsync().GetAwaiter().GetResult())
    {
    }

    private ConsoleLiveFixture(FakeOpenAiProvider provider)
        : base(TestRepository.WithProviders(provider.BaseUrl, FakeOpenAiProvider.KeyVariable, FakeOpenAiProvider.Key, (_, config) =>
            {
                if (config["remote"] is not null)
                {
                    config["requestTimeoutMs"] = 60_000;
                }
            })
            .WithVariants("digits", ("scaling", c =>
            {
                c["maxBatchSize"] = 64;
                c["maxQueueDelayMs"] = 2000;
                c["requestTimeoutMs"] = 30_000;
                c["replicas"] = new JsonObject
                {
                    ["minReplicas"] = 1, ["maxReplicas"] = 2, ["targetInFlightPerReplica"] = 1,
                    ["upscaleDelayMs"] = 500, ["downscaleDelayMs"] = 600_000,
                };
            }))) => Provider = provider;

    public FakeOpenAiProvider Provider { get; }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Provider.DisposeAsync();
    }
}

/// <summary>The console while things happen: a scaling decision under load, and a running course job cancelled from the page.</summary>
public sealed class ConsoleLiveTests(ConsoleLiveFixture fixture, BrowserFixture browser) : IClassFixture<ConsoleLiveFixture>, IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task UnderLoad_AScalingDecisionAppearsOnTheFleetPage()
    {
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString(), ViewportSize = new() { Width = 1300, Height = 900 } });
        var page = await ConsoleTests.SignedInAsync(context, "/console");
        var scaling = page.Locator("section[data-model=scaling]");
        await scaling.WaitForAsync();
        Assert.Equal(0, await scaling.Locator(".events li").CountAsync());

        // A batch runs once it is as large as the last one, or after 2 s: a burst of 32 and then one of 4 leaves 4
        // requests waiting 2 s on one replica, against a target of 1 in flight per replica.
        var decision = scaling.Locator(".events li", new() { HasTextRegex = new System.Text.RegularExpressions.Regex("1 → 2 replicas") });
        var giveUp = DateTime.UtcNow.AddSeconds(60);
        while (await decision.CountAsync() == 0)
        {
            Assert.True(DateTime.UtcNow < giveUp, $"no scale-up from 1 to 2 replicas on the page within 60 s: {await fixture.Http.GetStringAsync("/v1/fleet/scaling")}");
            foreach (var size in new[] { 32, 4 })
            {
                await Task.WhenAll(Enumerable.Range(0, size).Select(i => fixture.Http.PostJsonAsync("/v2/models/scaling/infer", KServe.DigitsBody(i % 10))));
            }
        }

        var fleet = await fixture.Http.GetFromJsonAsync<JsonObject>("/v1/fleet/scaling");
        Assert.Contains(fleet!["recentEvents"]!.AsArray(), e => e!["from"]!.GetValue<int>() == 1 && e["to"]!.GetValue<int>() == 2);
        await scaling.ScrollIntoViewIfNeededAsync();
        Directory.CreateDirectory(ConsoleTests.Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(ConsoleTests.Screenshots, "console-scaling.png") });
    }

    [Fact]
    public async Task ARunningCourseJob_IsCancelledFromThePage_AndItsHoldIsReleased()
    {
        fixture.Provider.Set("gpt-4o-mini", new FakeBehaviour(FirstTokenDelayMs: 5000)); // standard-chat: 5 s a call
        try
        {
            await CancelFromThePageAsync();
        }
        finally
        {
            fixture.Provider.Set("gpt-4o-mini", new FakeBehaviour());
        }
    }

    private async Task CancelFromThePageAsync()
    {
        var user = $"console-cancel-{Guid.NewGuid():N}";
        using var http = fixture.Client(await fixture.NewUserKeyAsync(user));
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString(), ViewportSize = new() { Width = 1300, Height = 800 } });
        var page = await ConsoleTests.SignedInAsync(context, "/console/jobs");

        using var started = await http.PostAsJsonAsync("/v1/courses", new { subject = "The Flood", lessons = 3, lesson_tokens = 20, model = "standard-chat" });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        var job = page.Locator($"#jobs tr[data-id='{id}']");
        await job.Locator(".state.running").WaitForAsync(new() { Timeout = 20_000 });
        await job.Locator("button[data-action=cancel]").ClickAsync();

        await job.Locator(".state.cancelled").WaitForAsync(new() { Timeout = 30_000 });
        var ended = (await http.GetFromJsonAsync<JsonObject>($"/v1/courses/jobs/{id}"))!;
        Assert.Equal("cancelled", ended["state"]!.GetValue<string>());
        Assert.True(ended["lessonsDone"]!.GetValue<int>() < 3, "the job finished before the cancel reached it");
        var budget = (await http.GetFromJsonAsync<JsonObject>("/v1/budget"))!;
        Assert.Equal(0m, budget["reserved"]!.GetValue<decimal>()); // no hold without an end
    }
}
