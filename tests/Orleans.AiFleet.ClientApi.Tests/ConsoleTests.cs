using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>The operator console in headless Chromium: sign in, then the fleet page shows every model's replicas live.</summary>
[Collection(ApiCollection.Name)]
public sealed partial class ConsoleTests(ApiFixture fixture, BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnAdminSignsIn_AndTheFleetPageShowsEveryModelsReplicasUpdatingLive()
    {
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString(), ViewportSize = new() { Width = 1300, Height = 900 } });
        var page = await context.NewPageAsync();

        await page.GotoAsync("/console");
        Assert.Contains("/signin?ReturnUrl=%2Fconsole", page.Url, StringComparison.Ordinal);
        await page.FillAsync("#key", TestKeys.Admin);
        await page.ClickAsync("#signin");
        await page.WaitForURLAsync("**/console");

        var digits = page.Locator("section[data-model=digits]");
        await digits.WaitForAsync();
        Assert.Matches(VersionLine(), await digits.Locator("p.version, p.warn").Last.TextContentAsync() ?? "");
        Assert.True(await digits.Locator("tr").CountAsync() >= 3, "a header and a row per replica of version 2");
        foreach (var model in new[] { "chat-lm", "sentence-encoder", "text-encoder" })
        {
            Assert.Equal(1, await page.Locator($"section[data-model={model}]").CountAsync());
        }

        // Live: the completed count of digits' replicas grows on the page after requests, without a reload.
        var before = await CompletedAsync(digits);
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => fixture.Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(i % 10))));
        await Eventually.TrueAsync(async () => await CompletedAsync(digits) >= before + 20, "the page to count the new requests");

        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-fleet.png"), FullPage = false });
    }

    [Fact]
    public async Task TheConsolesData_NeedsASignedInAdmin()
    {
        using var anonymous = fixture.Client();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/console/api/fleet")).StatusCode);
        using var user = fixture.Client(await fixture.NewUserKeyAsync($"console-{Guid.NewGuid():N}"));
        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/console/api/fleet")).StatusCode);
    }

    /// <summary>Where the tests leave their screenshots (the README's come from here).</summary>
    private static readonly string Screenshots = Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, ".artifacts", "screenshots");

    private static async Task<long> CompletedAsync(ILocator model)
    {
        // The "completed" column (6th) of every replica row of version 2.
        var cells = await model.Locator("tr td:nth-child(6)").AllTextContentsAsync();
        var ids = await model.Locator("tr td:nth-child(1)").AllTextContentsAsync();
        return cells.Zip(ids).Where(c => c.Second.StartsWith("digits/2/", StringComparison.Ordinal)).Sum(c => long.Parse(c.First, System.Globalization.CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"^version 2: \d+ ready of \d+ desired")]
    private static partial Regex VersionLine();
}
