namespace Orleans.AiFleet.Tests;

/// <summary>A real PostgreSQL, started (or found running) by the project's own script, with db/ applied.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync() => ConnectionString = await ServiceScript.StartAsync("postgres");

    public Task DisposeAsync() => Task.CompletedTask; // left running for the other suites; scripts/test.sh stops it
}
