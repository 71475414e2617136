using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests.Cluster;

/// <summary>Grain state in Redis outlives the whole cluster: every silo stopped, a new one started.</summary>
public sealed class ClusterRestartTests(PostgresFixture postgres, RedisFixture redis) : IClassFixture<PostgresFixture>, IClassFixture<RedisFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static readonly string Repository = TestRepository.Create("digits", ("scaling", c =>
    {
        c["maxBatchSize"] = 64;
        c["maxQueueDelayMs"] = 60_000;
        c["requestTimeoutMs"] = 600_000;
        c["replicas"] = new JsonObject
        {
            ["minReplicas"] = 1, ["maxReplicas"] = 3, ["targetInFlightPerReplica"] = 1, ["upscaleDelayMs"] = 1000, ["downscaleDelayMs"] = 5000,
        };
    }));

    [Fact]
    public async Task FleetDecisions_SurviveAFullClusterRestart()
    {
        var clusterId = $"restart-{Guid.NewGuid():N}";
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-23T00:00:00Z"));
        ScalingEvent decision;
        using (var first = await StartAsync(clusterId, clock))
        {
            var grains = first.Services.GetRequiredService<IGrainFactory>();
            var fleet = grains.GetGrain<IModelFleetGrain>("scaling");
            await fleet.EnsureStartedAsync();
            var replica = grains.GetGrain<IModelReplicaGrain>("scaling/2/0");
            await replica.InferAsync(new InferenceRequest("scaling", "2", [Samples.Pixels(0, Samples.DigitCount)]));
            var held = Enumerable.Range(0, 3).Select(i => replica.InferAsync(Samples.Digit("scaling", i))).ToArray();
            var giveUp = DateTime.UtcNow + Deadline;
            while ((await fleet.GetStatusAsync()).Versions.Single(v => v.Version == "2").Desired == 1)
            {
                Assert.True(DateTime.UtcNow < giveUp, "the fleet did not scale up");
                clock.Advance(TimeSpan.FromMilliseconds(250));
                await Task.Delay(100);
            }

            decision = Assert.Single((await fleet.GetStatusAsync()).RecentEvents);
            clock.Advance(TimeSpan.FromSeconds(60)); // release the held batch before shutting down
            await Task.WhenAll(held).WaitAsync(Deadline);
            await first.StopAsync();
        }

        using var second = await StartAsync(clusterId, new FakeTimeProvider(DateTimeOffset.Parse("2026-11-24T00:00:00Z")));
        var status = await second.Services.GetRequiredService<IGrainFactory>().GetGrain<IModelFleetGrain>("scaling").GetStatusAsync();

        Assert.Equal(3, status.Versions.Single(v => v.Version == "2").Desired);
        Assert.Equal(decision, Assert.Single(status.RecentEvents));
        await second.StopAsync();
    }

    private Task<Microsoft.Extensions.Hosting.IHost> StartAsync(string clusterId, TimeProvider clock) =>
        TestHosts.StartClusterSiloAsync(postgres.ConnectionString, clusterId, TestHosts.FreePort(), TestHosts.FreePort(), redis.Address, clock, Repository);
}
