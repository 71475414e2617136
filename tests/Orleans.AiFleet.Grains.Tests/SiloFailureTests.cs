using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.TestingHost;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>Two silos, so one can be killed; built per test class because a test destroys it.</summary>
public sealed class TwoSiloClusterFixture : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddAiFleet().UseAiFleetInMemoryState();
            silo.Services.Configure<ModelRepositoryOptions>(o => o.Path = TestRepository.Shipped);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class SiloFailureTests(TwoSiloClusterFixture fixture) : IClassFixture<TwoSiloClusterFixture>
{
    [Fact]
    public async Task InferAsync_SiloOfAReplicaKilledUnderLoad_EveryRequestIsAnswered()
    {
        var survivor = fixture.Cluster.Silos[0];
        var victim = fixture.Cluster.Silos[1];
        // Requests enter on the surviving silo (a client of the killed one would lose its gateway, not a replica).
        var grains = survivor.ServiceProvider.GetRequiredService<IGrainFactory>();
        await grains.GetGrain<IModelFleetGrain>("digits").EnsureStartedAsync();
        var replicas = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => grains.GetGrain<IModelReplicaGrain>(ReplicaKey.Format("digits", "2", i)).GetStatusAsync()));
        Assert.Contains(replicas, r => r.Silo == victim.SiloAddress.ToString()); // placement spread them: one is on the victim

        var load = new RouterLoad(grains.GetGrain<IInferenceRouterGrain>(0), "digits", clients: 8);
        await Task.Delay(1000);
        await fixture.Cluster.KillSiloAsync(victim);
        await Task.Delay(3000);
        await load.StopAndAssertNoFailuresAsync(minimum: 100);
    }
}
