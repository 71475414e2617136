using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Fleet;
using Orleans.AiFleet.Grains.Models;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Orleans.TestingHost;
using Microsoft.Extensions.DependencyInjection;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>Three silos, the first advertising a GPU (silo metadata gpu=true).</summary>
public sealed class ThreeSiloClusterFixture : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public string GpuSilo { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((options, silo) =>
        {
            silo.UseSiloMetadata(new Dictionary<string, string>
            {
                [ReplicaPlacementStrategy.GpuMetadataKey] = options.SiloName == "Silo_0" ? "true" : "false",
            });
            silo.AddAiFleet().UseAiFleetInMemoryState();
            silo.Services.Configure<ModelRepositoryOptions>(o => o.Path = TestRepository.Shipped);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        await Cluster.WaitForLivenessToStabilizeAsync();
        GpuSilo = Cluster.Silos.Single(s => s.Name == "Silo_0").SiloAddress.ToString();

        // Placement reads each silo's own caches of membership and metadata, filled asynchronously after start:
        // wait until every silo sees every silo's metadata, or a replica may be placed on a partial view.
        var giveUp = DateTime.UtcNow.AddSeconds(30);
        while (!Cluster.Silos.All(local => Cluster.Silos.All(other =>
                   local.ServiceProvider.GetRequiredService<ISiloMetadataCache>().GetSiloMetadata(other.SiloAddress)
                       .Metadata.ContainsKey(ReplicaPlacementStrategy.GpuMetadataKey))))
        {
            Assert.True(DateTime.UtcNow < giveUp, "silo metadata did not reach every silo within 30 s");
            await Task.Delay(50);
        }
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class ReplicaPlacementTests(ThreeSiloClusterFixture fixture) : IClassFixture<ThreeSiloClusterFixture>
{
    [Fact]
    public async Task Replicas_OfAModelThatDoesNotPreferAGpu_SpreadOverEverySilo()
    {
        var silos = await SilosOfAsync("digits", "1", replicas: 3); // digits: preferGpu false

        Assert.Equal(3, silos.Distinct().Count());
        Assert.All(silos, s => Assert.Contains(s, fixture.Cluster.Silos.Select(x => x.SiloAddress.ToString())));
    }

    [Fact]
    public async Task Replicas_OfAModelThatPrefersAGpu_LandOnTheGpuSilo()
    {
        var silos = await SilosOfAsync("text-encoder", "1", replicas: 3); // text-encoder: preferGpu true

        Assert.All(silos, s => Assert.Equal(fixture.GpuSilo, s));
    }

    private async Task<string[]> SilosOfAsync(string model, string version, int replicas) =>
        (await Task.WhenAll(Enumerable.Range(0, replicas).Select(i =>
            fixture.Cluster.Client.GetGrain<IModelReplicaGrain>(ReplicaKey.Format(model, version, i)).WarmUpAsync())))
        .Select(s => s.Silo).ToArray();
}
