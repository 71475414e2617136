using System.Diagnostics;

namespace Orleans.AiFleet.Tests;

/// <summary>A real PostgreSQL, started (or found running) by the project's own script, with db/ applied.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var script = Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, "scripts", "postgres.sh");
        var start = new ProcessStartInfo("bash", $"\"{script}\" start") { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"scripts/postgres.sh start failed: {errors}");
        ConnectionString = output.Trim().Split('\n')[^1];
    }

    public Task DisposeAsync() => Task.CompletedTask; // left running for the other suites; scripts/test.sh stops it
}
