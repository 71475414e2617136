using System.Diagnostics;
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

        var router = grains.GetGrain<IInferenceRouterGrain>(0);
        var answered = 0;
        var failures = new List<string>();
        var clock = Stopwatch.StartNew();
        async Task ClientAsync(int id)
        {
            for (var i = 0; clock.Elapsed < TimeSpan.FromSeconds(4); i++)
            {
                var sample = (id + i) % Samples.DigitCount;
                try
                {
                    var response = await router.InferAsync(Samples.Digit("digits", sample, outputs: "logits"));
                    Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(sample)], "logits"), response.Outputs[0].Fp32!);
                    Interlocked.Increment(ref answered);
                }
                catch (Exception e)
                {
                    lock (failures)
                    {
                        failures.Add($"{clock.Elapsed.TotalSeconds:0.00}s {e.GetType().Name}: {e.Message}");
                    }
                }
            }
        }

        var load = Task.WhenAll(Enumerable.Range(0, 8).Select(ClientAsync));
        await Task.Delay(1000);
        await fixture.Cluster.KillSiloAsync(victim);
        await load;

        Assert.True(failures.Count == 0, $"{failures.Count} of {answered + failures.Count} failed:\n{string.Join("\n", failures.Take(5))}");
        Assert.True(answered > 100, $"only {answered} requests answered");
    }
}
