using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>The operator console in headless Chromium: sign in, then the fleet and spend pages show live figures.</summary>
[Collection(ApiCollection.Name)]
public sealed partial class ConsoleTests(ApiFixture fixture, BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnAdminSignsIn_AndTheFleetPageShowsEveryModelsReplicasUpdatingLive()
    {
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString(), ViewportSize = new() { Width = 1300, Height = 900 } });
        var page = await SignedInAsync(context, "/console");

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

        // Charted over time: the version's requests per second and its users' p95 latency rise above zero.
        await Eventually.TrueAsync(async () => await page.EvaluateAsync<bool>(
            "() => Math.max(...history['digits/2'].rate) > 0 && Math.max(...history['digits/2'].p95) > 0"), "digits/2's charts to show the requests");
        Assert.Equal(3, await digits.Locator("p.charts").Nth(1).Locator("svg.spark").CountAsync());

        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-fleet.png"), FullPage = false });
    }

    [Fact]
    public async Task TheSpendPage_ShowsAUsersSpend_ItMovesAfterAChat_AndTheirBudgetIsSetThere()
    {
        var user = $"console-spend-{Guid.NewGuid():N}";
        using var http = fixture.Client(await fixture.NewUserKeyAsync(user));
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = $"first words of {user}" })).StatusCode);
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString(), ViewportSize = new() { Width = 1300, Height = 900 } });
        var page = await SignedInAsync(context, "/console/spend");

        var row = page.Locator("#users tr", new() { HasText = user });
        await row.WaitForAsync();
        var first = await SpendAsync(row);
        Assert.True(first > 0, $"spend shown: {first}");
        using var chat = await http.PostAsJsonAsync("/v1/chat/completions",
            new { model = "chat-lm", messages = new[] { new { role = "user", content = $"In the beginning {user}" } }, max_tokens = 16 });
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);

        await Eventually.TrueAsync(async () => await SpendAsync(row) > first, "the page to show the chat's spend");

        // An admin sets the user's budget from the same page; a cap the server refuses shows its message.
        await page.FillAsync("#budget-user", user);
        await page.FillAsync("#daily", "-1");
        await page.ClickAsync("#set-budget");
        await page.Locator("#error", new() { HasTextRegex = new Regex("daily|limit|negative|0 or more", RegexOptions.IgnoreCase) }).WaitForAsync();
        await page.FillAsync("#daily", "2.50");
        await page.FillAsync("#maxParallel", "3");
        await page.ClickAsync("#set-budget");
        await page.Locator("#budget-set", new() { HasTextString = user }).WaitForAsync();
        var budget = await fixture.Http.GetFromJsonAsync<System.Text.Json.JsonElement>($"/v1/admin/budgets/{user}");
        Assert.Equal(2.50m, budget.GetProperty("limits").GetProperty("daily").GetDecimal());
        Assert.Equal(3, budget.GetProperty("limits").GetProperty("maxParallel").GetInt32());

        // The budgets table: the new cap, what was spent, and nothing held once the requests ended.
        var held = page.Locator("#budgets tr", new() { HasText = user });
        await Eventually.TrueAsync(async () => await held.CountAsync() == 1 && (await held.Locator("td").AllInnerTextsAsync())[1] == "2.5", "the budgets table to show the new cap");
        var cells = await held.Locator("td").AllInnerTextsAsync();
        Assert.Equal(("0", "0"), (cells[5], cells[6]));
        Assert.True(decimal.Parse(cells[4], System.Globalization.CultureInfo.InvariantCulture) > 0, $"spent this month: {cells[4]}");
        Assert.Equal(1, await page.Locator("#chart svg").CountAsync());
        Directory.CreateDirectory(Screenshots);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "console-spend.png") });
    }

    [Fact]
    public async Task AKey_IsCreatedWithItsSecretShownOnce_AndRevokedFromThePage()
    {
        var user = $"console-key-{Guid.NewGuid():N}";
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString(), ViewportSize = new() { Width = 1300, Height = 800 } });
        var page = await SignedInAsync(context, "/console/keys");

        await page.ClickAsync("#create-key"); // no user: the form's own check stops it
        await page.EvalOnSelectorAsync("#user", "e => e.removeAttribute('required')");
        await page.ClickAsync("#create-key");
        await page.Locator("#error", new() { HasTextString = "user" }).WaitForAsync(); // the server's 400, named
        await page.FillAsync("#user", user);
        await page.FillAsync("#name", "from the console");
        await page.SelectOptionAsync("#tier", "premium");
        await page.ClickAsync("#create-key");
        await page.Locator("#secret-value", new() { HasTextRegex = new Regex("^afk_") }).WaitForAsync();
        var secret = await page.Locator("#secret-value").TextContentAsync();
        using (var keyed = fixture.Client(secret))
        {
            Assert.Equal(HttpStatusCode.OK, (await keyed.GetAsync("/v1/budget")).StatusCode);
        }

        var row = page.Locator("#keys tr", new() { HasText = user });
        await row.Locator("button[data-action=revoke]").ClickAsync();
        await row.Locator("td", new() { HasTextString = "revoked" }).Last.WaitForAsync();
        var keys = await fixture.Http.GetFromJsonAsync<System.Text.Json.JsonElement>("/v1/admin/keys");
        var stored = keys.EnumerateArray().Single(k => k.GetProperty("user").GetString() == user);
        Assert.Equal("premium", stored.GetProperty("tier").GetString());
        Assert.NotEqual(System.Text.Json.JsonValueKind.Null, stored.GetProperty("revokedAt").ValueKind);
        Assert.False(stored.TryGetProperty("key", out var leaked) && leaked.ValueKind != System.Text.Json.JsonValueKind.Null, "a listed key carries its secret");
    }

    [Fact]
    public async Task CourseJobs_AreListedWithTheirProgressAndState()
    {
        var user = $"console-job-{Guid.NewGuid():N}";
        using var http = fixture.Client(await fixture.NewUserKeyAsync(user));
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString(), ViewportSize = new() { Width = 1300, Height = 800 } });
        var page = await SignedInAsync(context, "/console/jobs");

        using var started = await http.PostAsJsonAsync("/v1/courses", new { subject = "The Exodus", lessons = 6, lesson_tokens = 60 });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString()!;
        var job = page.Locator($"#jobs tr[data-id='{id}']");
        await job.Locator(".state.succeeded").WaitForAsync(new() { Timeout = 30_000 });

        var cells = await job.Locator("td").AllInnerTextsAsync();
        Assert.Equal([id, user, "The Exodus", "succeeded", "done"], cells.Take(5));
        Assert.Equal("6/6", cells[5].Trim());
        Assert.Equal(0, await job.Locator("button[data-action=cancel]").CountAsync()); // only a running job can be cancelled

        // The cancel the page posts: the session cookie and the antiforgery token; an unknown job is a 404.
        var answer = await page.EvaluateAsync<string>("async () => { await consolePost('/console/api/jobs/saga_unknown/cancel'); return document.getElementById('error').textContent; }");
        Assert.Contains("no course job has id 'saga_unknown'", answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheConsolesData_NeedsASignedInAdmin()
    {
        using var anonymous = fixture.Client();
        using var user = fixture.Client(await fixture.NewUserKeyAsync($"console-{Guid.NewGuid():N}"));
        foreach (var path in new[] { "/console/api/fleet", "/console/api/usage", "/console/api/experiments", "/console/api/keys", "/console/api/jobs" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(path)).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync(path)).StatusCode);
        }
    }

    /// <summary>Opens <paramref name="path"/>, which sends the browser to sign in first, and signs in with the admin key.</summary>
    internal static async Task<IPage> SignedInAsync(IBrowserContext context, string path)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync(path);
        Assert.Contains("/signin?ReturnUrl=" + Uri.EscapeDataString(path), page.Url, StringComparison.Ordinal);
        await page.FillAsync("#key", TestKeys.Admin);
        await page.ClickAsync("#signin");
        await page.WaitForURLAsync("**" + path, Pages.Committed);
        return page;
    }

    private static async Task<decimal> SpendAsync(ILocator userRow) =>
        decimal.Parse(await userRow.Locator("td").Nth(1).TextContentAsync() ?? "0", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Where the tests leave their screenshots (the README's come from here).</summary>
    internal static readonly string Screenshots = Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, ".artifacts", "screenshots");

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
