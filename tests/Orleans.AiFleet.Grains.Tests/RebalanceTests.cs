using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.TestingHost;
using Microsoft.Extensions.DependencyInjection;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>Replicas warmed while one silo was alone spread out when a second silo joins.</summary>
public sealed class RebalanceTests
{
    [Fact]
    public async Task ReplicasWarmedOnALoneSilo_SpreadOverASiloThatJoinsLater_AndKeepServing()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddAiFleet().UseAiFleetInMemoryState();
            silo.Services.Configure<ModelRepositoryOptions>(o => o.Path = TestRepository.Shipped);
        });
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        var client = cluster.Client;
        await client.GetGrain<IModelFleetGrain>("digits").EnsureStartedAsync();
        Assert.Single((await SilosAsync(client)).Distinct());

        await cluster.StartAdditionalSiloAsync();
        await cluster.WaitForLivenessToStabilizeAsync();

        var giveUp = DateTime.UtcNow.AddSeconds(30);
        string[] silos;
        while ((silos = await SilosAsync(client)).Distinct().Count() < 2)
        {
            Assert.True(DateTime.UtcNow < giveUp, $"the replicas stayed on {string.Join(", ", silos.Distinct())} 30 s after a second silo joined");
            await Task.Delay(100);
        }

        var answer = await client.GetGrain<IInferenceRouterGrain>(0).InferAsync(Samples.Digit("digits", 3));
        Assert.Equal([1L, 10L], answer.Outputs[0].Shape);
        var events = (await client.GetGrain<IModelFleetGrain>("digits").GetStatusAsync()).RecentEvents;
        Assert.Contains(events, e => e.Reason.Contains("replicas uneven", StringComparison.Ordinal));
    }

    /// <summary>Where each replica in digits' default routing table runs.</summary>
    private static async Task<string[]> SilosAsync(IClusterClient client)
    {
        var table = await client.GetGrain<IModelFleetGrain>("digits").GetRoutingTableAsync("2");
        var statuses = await Task.WhenAll(table.Replicas.Select(r => client.GetGrain<IModelReplicaGrain>(r).GetStatusAsync()));
        return statuses.Select(s => s.Silo).ToArray();
    }
}
