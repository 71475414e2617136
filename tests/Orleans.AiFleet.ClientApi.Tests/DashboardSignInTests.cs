using System.Net;
using System.Net.Http.Json;
using Microsoft.Playwright;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// A person reaches the Orleans dashboard from a browser, which cannot send a Bearer header: sign in with an admin
/// key, get an HttpOnly SameSite=Strict cookie, use the dashboard, sign out. Tools keep using Bearer.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class DashboardSignInTests(ApiFixture fixture, BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnAdminSignsIn_SeesTheDashboard_AndSignsOut()
    {
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString() });
        var page = await context.NewPageAsync();

        await page.GotoAsync("/dashboard");
        Assert.EndsWith("/signin?ReturnUrl=%2Fdashboard", page.Url, StringComparison.Ordinal); // sent to sign in, not shown a 401
        await page.FillAsync("#key", TestKeys.Admin);
        var posted = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("#signin"), r => r.Request.Method == "POST");
        await page.WaitForURLAsync("**/dashboard**", Pages.Committed);

        Assert.Equal((int)HttpStatusCode.Redirect, posted.Status);
        var session = (await context.CookiesAsync()).Single(c => c.Name == "aifleet_session");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.Equal(200, (await page.APIRequest.GetAsync("/dashboard/DashboardCounters")).Status); // the page's own data calls

        await page.EvaluateAsync("() => fetch('/signout', { method: 'POST' })");
        await page.GotoAsync("/dashboard");
        Assert.Contains("/signin", page.Url, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AWrongKey_ShowsAnError_AndSetsNoSession()
    {
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString() });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/signin");

        await page.FillAsync("#key", "afk_not-a-real-key");
        var answer = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("#signin"), r => r.Request.Method == "POST");

        Assert.Equal((int)HttpStatusCode.Unauthorized, answer.Status);
        Assert.Contains("not accepted", await page.Locator(".error").TextContentAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == "aifleet_session");
    }

    [Fact]
    public async Task AUsersKey_SignsInToTheirOwnPage_ButCannotOpenTheDashboardOrOthersData()
    {
        var user = $"browser-user-{Guid.NewGuid():N}";
        var userKey = await fixture.NewUserKeyAsync(user);
        using (var http = fixture.Client(userKey))
        {
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = $"words of {user}" })).StatusCode);
        }

        var other = $"other-user-{Guid.NewGuid():N}";
        using (var http = fixture.Client(await fixture.NewUserKeyAsync(other)))
        {
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = $"words of {other}" })).StatusCode);
        }

        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString() });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/signin");
        await page.FillAsync("#key", userKey);
        await page.ClickAsync("#signin");
        await page.WaitForURLAsync("**/console/me", Pages.Committed);

        await page.Locator("#who", new() { HasTextString = user }).WaitForAsync();
        await page.Locator("#usage td", new() { HasTextString = "text-encoder" }).First.WaitForAsync();
        Assert.DoesNotContain(other, await page.ContentAsync(), StringComparison.Ordinal);
        var own = await page.APIRequest.GetAsync("/console/me/usage");
        Assert.Contains(user, await own.TextAsync(), StringComparison.Ordinal);
        foreach (var path in new[] { "/dashboard/DashboardCounters", "/console/api/usage", "/console/api/fleet", "/console/api/keys" })
        {
            Assert.Equal((int)HttpStatusCode.Forbidden, (await page.APIRequest.GetAsync(path)).Status); // admins' data: the session is a user's
        }

        Assert.Equal((int)HttpStatusCode.Unauthorized, (await page.APIRequest.GetAsync($"/v1/admin/budgets/{other}")).Status); // the /v1 API takes keys only
    }

    [Fact]
    public async Task ASignInPostWithoutTheFormsAntiforgeryToken_IsRefused()
    {
        using var http = new HttpClient { BaseAddress = fixture.BaseAddress };

        using var response = await http.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = TestKeys.Admin }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("aifleet_session", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Tools_StillUseBearer_AndGet401sNotRedirects()
    {
        using var anonymous = fixture.Client();

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/dashboard/DashboardCounters")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.GetAsync("/dashboard/DashboardCounters")).StatusCode);
    }
}
