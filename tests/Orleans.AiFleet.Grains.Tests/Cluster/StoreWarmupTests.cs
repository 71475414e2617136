using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Tests.Cluster;

/// <summary>A silo reaches its stores before it joins the cluster, so its first users never meet a cold store.</summary>
public sealed class StoreWarmupTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task ASiloWhoseRedisIsHungAtStart_WaitsForIt_ThenServesItsFirstRequestsWithoutAStoreError()
    {
        await using var redis = await OwnRedis.StartAsync();
        redis.Signal("STOP");
        var logs = new CapturedLogs();
        Task<Microsoft.Extensions.Hosting.IHost> starting;
        try
        {
            starting = TestHosts.StartClusterSiloAsync(postgres.ConnectionString, $"cold-{Guid.NewGuid():N}", TestHosts.FreePort(), TestHosts.FreePort(), redis.Address, logs: logs);
            await Eventually.TrueAsync(() => Task.FromResult(logs.All.Contains("Stores not reached yet", StringComparison.Ordinal) || starting.IsCompleted),
                "the silo's first attempt to reach its stores to fail", TimeSpan.FromSeconds(30));
            Assert.False(starting.IsCompleted); // tried its stores, failed, and is still starting: it has not joined
        }
        finally
        {
            redis.Signal("CONT");
        }

        using var host = await starting.WaitAsync(TimeSpan.FromSeconds(60));
        var grains = host.Services.GetRequiredService<IGrainFactory>();

        // Its first requests, at once and together: every one answered, none a store timeout.
        var reserves = Enumerable.Range(0, 40).Select(i => grains.GetGrain<IUserBudgetGrain>($"cold-user-{i}-{Guid.NewGuid():N}")
            .ReserveAsync(new ReserveRequest("m", 0.01m, 1)));
        Assert.All(await Task.WhenAll(reserves), r => Assert.True(r.Granted));
        await host.StopAsync();
    }
}
