using Microsoft.Playwright;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// Headless Chromium from Debian's <c>chromium</c> package (installed by scripts/test.sh), driven by Playwright
/// through its executable path: no browser download. One browser per test class; a fresh context (cookies) per test.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/test.sh installs Debian's chromium package");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true });
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright?.Dispose();
    }
}

/// <summary>Waits shared by the browser tests.</summary>
internal static class Pages
{
    /// <summary>
    /// A navigation counts once the new page's response is committed; a test then waits for the element it needs.
    /// Console pages poll every 2 s, so "network idle" may never come, and waiting for it timed out under load.
    /// </summary>
    public static readonly PageWaitForURLOptions Committed = new() { WaitUntil = WaitUntilState.Commit };
}
