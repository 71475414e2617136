namespace Orleans.AiFleet.Bench;

/// <summary>One silo hosted in the bench process with the product's silo configuration, on memory or Redis state.</summary>
internal static class InProcessSilo
{
    public static async Task<IHost> StartAsync(string? redis)
    {
        var repo = Processes.FindUp("models", d => File.Exists(Path.Combine(d, "digits", "config.json")));
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Configuration["AiFleet:Models:Path"] = repo;
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(Processes.FreePort(), Processes.FreePort());
            silo.AddAiFleet();
            if (redis is null)
            {
                silo.UseAiFleetInMemoryState();
            }
            else
            {
                silo.UseAiFleetRedisState(redis);
            }
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
