using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.TestingHost;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>Three silos serving a digits variant pinned at three replicas; a test kills one, so one cluster per class.</summary>
public sealed class HealingClusterFixture : IAsyncLifetime
{
    private static readonly string Repository = TestRepository.Create("digits",
        ("healing", c => c["replicas"] = new JsonObject { ["minReplicas"] = 3, ["maxReplicas"] = 3 }));

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddAiFleet().UseAiFleetInMemoryState();
            silo.Services.Configure<ModelRepositoryOptions>(o => o.Path = Repository);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        await Cluster.WaitForLivenessToStabilizeAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class FleetHealingTests(HealingClusterFixture fixture) : IClassFixture<HealingClusterFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SiloKilledUnderLoad_FleetRestoresReplicasOnSurvivors_NoRequestFails()
    {
        // Requests and inspection go through the primary silo, which is never the victim.
        var entry = fixture.Cluster.Silos[0];
        var grains = entry.ServiceProvider.GetRequiredService<IGrainFactory>();
        var fleet = grains.GetGrain<IModelFleetGrain>("healing");
        Assert.All(await fleet.EnsureStartedAsync(), r => Assert.True(r.Ready, r.Error));
        var before = await fleet.GetStatusAsync();
        var loads = await Task.WhenAll(Enumerable.Range(0, 3).Select(i =>
            grains.GetGrain<IModelReplicaGrain>(ReplicaKey.Format("healing", "2", i)).GetStatusAsync()));
        Assert.Equal(3, loads.Select(l => l.Silo).Distinct().Count()); // one replica per silo

        // The victim hosts a replica but neither the fleet grain nor the requests' entry.
        var victim = fixture.Cluster.Silos.Skip(1).First(s => s.SiloAddress.ToString() != before.Silo);
        var victimAddress = victim.SiloAddress.ToString();
        var lost = loads.Single(l => l.Silo == victimAddress).ReplicaId;

        var clock = Stopwatch.StartNew();
        var load = new RouterLoad(grains.GetGrain<IInferenceRouterGrain>(0), "healing", clients: 6);
        await Task.Delay(500);
        await fixture.Cluster.KillSiloAsync(victim);
        var killedAt = clock.Elapsed;

        // Watch the fleet until the lost replica serves from a survivor.
        FleetVersionStatus status;
        while (true)
        {
            var fleetStatus = await fleet.GetStatusAsync();
            status = fleetStatus.Versions.Single(v => v.Version == "2");
            if (status.Loads.SingleOrDefault(l => l.ReplicaId == lost)?.Silo is { } at && at != victimAddress)
            {
                break;
            }

            Assert.True(clock.Elapsed - killedAt < Deadline,
                $"after {Deadline.TotalSeconds} s {lost} still reports from {victimAddress}; {load.Answered} answered, {load.Failed} failed");
            await Task.Delay(100);
        }

        var healedAfter = clock.Elapsed - killedAt;
        await Task.Delay(500); // traffic on the healed fleet
        await load.StopAndAssertNoFailuresAsync(minimum: 100);
        Console.WriteLine($"healed {healedAfter.TotalSeconds:0.0} s after the kill; {load.Answered} answered");
        Assert.Equal(3, status.InRotation.Count);
        Assert.All(status.Loads, l => Assert.NotEqual(victimAddress, l.Silo));
        var events = (await fleet.GetStatusAsync()).RecentEvents;
        Assert.Contains(events, e => e.Reason.StartsWith($"replica {lost} lost on silo {victimAddress}", StringComparison.Ordinal));
    }
}
