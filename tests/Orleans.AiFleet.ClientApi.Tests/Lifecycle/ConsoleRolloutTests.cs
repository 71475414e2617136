using System.Net.Http.Json;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.ClientApi.Tests.Lifecycle;

/// <summary>An operator rolls a canary back from the console's rollouts page, in headless Chromium.</summary>
[Collection(LifecycleCollection.Name)]
public sealed class ConsoleRolloutTests(LifecycleFixture fixture, BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task ACanary_IsStartedAndRolledBackFromThePage()
    {
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString(), ViewportSize = new() { Width = 1300, Height = 800 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/console/rollouts");
        await page.FillAsync("#key", TestKeys.Admin);
        await page.ClickAsync("#signin");
        await page.WaitForURLAsync("**/console/rollouts", Pages.Committed);

        // Started from the page: a version the model lacks is refused with the server's message, then a 5 % canary.
        await page.FillAsync("#start-model", "console");
        await page.SelectOptionAsync("#start-kind", "canary");
        await page.FillAsync("#start-candidate", "9");
        await page.FillAsync("#start-baseline", "2");
        await page.FillAsync("#start-steps", "5, 100");
        await page.ClickAsync("#start-experiment");
        await page.Locator("#error", new() { HasTextString = "9" }).WaitForAsync();
        await page.FillAsync("#start-candidate", "1");
        await page.ClickAsync("#start-experiment");
        var running = page.Locator("section.experiment", new() { Has = page.Locator(".state.running") });
        await running.WaitForAsync();
        var id = (await running.GetAttributeAsync("data-id"))!;
        var experiment = page.Locator($"section[data-id='{id}']");
        var started = await fixture.Http.GetFromJsonAsync<JsonElement>($"/v1/experiments/{id}");
        Assert.Equal(("console", "canary", "1", "2"), (started.GetProperty("model").GetString(), started.GetProperty("spec").GetProperty("kind").GetString(),
            started.GetProperty("spec").GetProperty("candidate").GetString(), started.GetProperty("spec").GetProperty("baseline").GetString()));
        await Eventually.TrueAsync(async () => Scrape.Sum(await fixture.Http.GetStringAsync("/metrics"), "aifleet_rollout_share_percent",
            "model=\"console\"", "role=\"candidate\"") == 5, "the canary's 5 % share in /metrics");
        var forged = await page.APIRequest.PostAsync($"/console/api/experiments/{id}/promote"); // the session cookie, no token
        Assert.Equal(400, forged.Status);
        await experiment.Locator("button[data-action=rollback]").ClickAsync();

        await experiment.Locator(".state.rolled-back").WaitForAsync();
        var ended = await fixture.Http.GetFromJsonAsync<JsonElement>($"/v1/experiments/{id}");
        Assert.Equal(ExperimentStates.RolledBack, ended.GetProperty("state").GetString());
        Assert.Equal(["start", "rollback"], ended.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("action").GetString()));
        var screenshots = Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, ".artifacts", "screenshots");
        Directory.CreateDirectory(screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(screenshots, "console-rollouts.png") });
    }
}
