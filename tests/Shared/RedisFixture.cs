namespace Orleans.AiFleet.Tests;

/// <summary>A real Redis, started (or found running) by the project's own script.</summary>
public sealed class RedisFixture : IAsyncLifetime
{
    public string Address { get; private set; } = "";

    public async Task InitializeAsync() => Address = await ServiceScript.StartAsync("redis");

    public Task DisposeAsync() => Task.CompletedTask; // left running for the other suites; scripts/test.sh stops it
}
