using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Models;
using Orleans.TestingHost;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>
/// Two silos on a manual clock, each with its own copy of the model repository (a "flaky" digits variant with two
/// replicas), so a test can break one silo's model file the way a bad disk or a partial deploy would.
/// </summary>
public sealed class TwoRepositoryClusterFixture : IAsyncLifetime
{
    private readonly Dictionary<string, string> _repositories = [];

    public FakeTimeProvider Time { get; } = new(DateTimeOffset.Parse("2026-11-24T00:00:00Z"));

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public string RepositoryOf(string silo) => _repositories[silo];

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((options, silo) =>
        {
            var repository = TestRepository.Create("digits",
                ("flaky", c => c["replicas"] = new JsonObject { ["minReplicas"] = 2, ["maxReplicas"] = 2 }));
            lock (_repositories)
            {
                _repositories[options.SiloName] = repository;
            }

            silo.Services.AddKeyedSingleton<TimeProvider>(AiFleetServiceKeys.Clock, Time);
            silo.AddAiFleet().UseAiFleetInMemoryState();
            silo.Services.Configure<ModelRepositoryOptions>(o => o.Path = repository);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        await Cluster.WaitForLivenessToStabilizeAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class CircuitBreakerTests(TwoRepositoryClusterFixture fixture) : IClassFixture<TwoRepositoryClusterFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task FailingReplica_CircuitOpens_IsSkipped_ThenRecoversAndServesAgain()
    {
        var entry = fixture.Cluster.Silos[0];
        var entryAddress = entry.SiloAddress.ToString();
        var grains = entry.ServiceProvider.GetRequiredService<IGrainFactory>();
        var fleet = grains.GetGrain<IModelFleetGrain>("flaky");
        Assert.All(await fleet.EnsureStartedAsync(), r => Assert.True(r.Ready, r.Error));
        var replicas = await Task.WhenAll(Enumerable.Range(0, 2).Select(i =>
            grains.GetGrain<IModelReplicaGrain>(ReplicaKey.Format("flaky", "2", i)).GetStatusAsync()));
        Assert.NotEqual(replicas[0].Silo, replicas[1].Silo); // spread: one replica per silo
        var sick = replicas.Single(r => r.Silo != entryAddress);
        var healthy = replicas.Single(r => r.Silo == entryAddress);
        var sickSilo = fixture.Cluster.Silos.Single(s => s.SiloAddress.ToString() == sick.Silo);
        var modelFile = Path.Combine(fixture.RepositoryOf(sickSilo.Name), "flaky", "2", "model.onnx");
        var goodBytes = await File.ReadAllBytesAsync(modelFile);

        // The sick silo's model file goes bad and the replica's activation ends: every call re-activating it fails.
        await File.WriteAllBytesAsync(modelFile, "not an onnx model"u8.ToArray());
        await grains.GetGrain<IModelReplicaGrain>(sick.ReplicaId).UnloadAsync();
        fixture.Time.Advance(TimeSpan.FromSeconds(3)); // the breaker's window forgets the calls that succeeded

        var router = grains.GetGrain<IInferenceRouterGrain>(0);
        await InferAllAsync(router, 40); // every request is answered: failed calls are retried on the healthy replica
        var opened = await CircuitAsync(fleet, sick.ReplicaId, entryAddress, "open");
        Assert.Contains("could not be loaded", opened.Cause);

        // While open, the sick replica is passed over: the healthy one serves every request.
        var servedBefore = (await grains.GetGrain<IModelReplicaGrain>(healthy.ReplicaId).GetStatusAsync()).CompletedRequests;
        await InferAllAsync(router, 40);
        Assert.Equal(servedBefore + 40, (await grains.GetGrain<IModelReplicaGrain>(healthy.ReplicaId).GetStatusAsync()).CompletedRequests);
        Assert.Equal("open", (await CircuitAsync(fleet, sick.ReplicaId, entryAddress, "open")).State);

        // The file is repaired; after the break a trial call reaches the replica, succeeds, and closes the circuit.
        await File.WriteAllBytesAsync(modelFile, goodBytes);
        fixture.Time.Advance(ReplicaCircuitsBreak + TimeSpan.FromSeconds(1));
        var giveUp = DateTime.UtcNow + Deadline;
        while ((await fleet.GetStatusAsync()).Versions.Single(v => v.Version == "2").Circuits
               .Single(c => c.ReplicaId == sick.ReplicaId && c.RouterSilo == entryAddress).State != "closed")
        {
            Assert.True(DateTime.UtcNow < giveUp, "the circuit did not close after the replica was repaired");
            await InferAllAsync(router, 4);
            await Task.Delay(50);
        }

        var recovered = await grains.GetGrain<IModelReplicaGrain>(sick.ReplicaId).GetStatusAsync();
        Assert.True(recovered.Ready);
        Assert.Equal(sick.Silo, recovered.Silo);
        var servedBySick = recovered.CompletedRequests;
        await InferAllAsync(router, 40);
        Assert.True((await grains.GetGrain<IModelReplicaGrain>(sick.ReplicaId).GetStatusAsync()).CompletedRequests > servedBySick,
            "the recovered replica took no traffic");
    }

    private static readonly TimeSpan ReplicaCircuitsBreak = Routing.ReplicaCircuits.BreakDuration;

    private static async Task InferAllAsync(IInferenceRouterGrain router, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var response = await router.InferAsync(Samples.Digit("flaky", i % Samples.DigitCount, outputs: "logits"));
            Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(i % Samples.DigitCount)], "logits"), response.Outputs[0].Fp32!);
        }
    }

    private static async Task<CircuitReport> CircuitAsync(IModelFleetGrain fleet, string replica, string router, string state)
    {
        var giveUp = DateTime.UtcNow + Deadline;
        while (true)
        {
            var report = (await fleet.GetStatusAsync()).Versions.Single(v => v.Version == "2").Circuits
                .SingleOrDefault(c => c.ReplicaId == replica && c.RouterSilo == router);
            if (report?.State == state)
            {
                return report;
            }

            Assert.True(DateTime.UtcNow < giveUp, $"circuit of {replica} on {router} is {report?.State ?? "unreported"}, not {state}");
            await Task.Delay(50);
        }
    }
}
