using System.Diagnostics;

namespace Orleans.AiFleet.Tests;

/// <summary>A real Redis, started (or found running) by the project's own script.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public string Address { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var script = Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, "scripts", "redis.sh");
        using var process = Process.Start(new ProcessStartInfo("bash", $"\"{script}\" start") { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"scripts/redis.sh start failed: {errors}");
        Address = output.Trim().Split('\n')[^1];
    }

    public Task DisposeAsync() => Task.CompletedTask; // left running for the other suites; scripts/test.sh stops it
}
