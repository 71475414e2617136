using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using Orleans.AiFleet.GrainInterfaces.Models;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Tests.Cluster;

/// <summary>
/// The lifecycle on real PostgreSQL (membership, uploaded versions) and Redis (fleet and experiment state): an
/// uploaded version, the split a rollout set and the rollout itself outlive the whole cluster, and the rollout goes on
/// deciding on the new silo from the routers' reports there.
/// </summary>
public sealed class LifecycleRestartTests(PostgresFixture postgres, RedisFixture redis) : IClassFixture<PostgresFixture>, IClassFixture<RedisFixture>
{
    [Fact]
    public async Task AnUploadedVersion_ItsSplit_AndItsRollout_SurviveAFullClusterRestart_AndTheRolloutCarriesOn()
    {
        var clusterId = $"lifecycle-{Guid.NewGuid():N}";
        var model = $"lc{Guid.NewGuid():N}"[..12]; // the store outlives test runs: a model name of this run's own
        string experiment;
        using (var first = await StartAsync(clusterId, Repository(model)))
        {
            var grains = first.Services.GetRequiredService<IGrainFactory>();
            var store = first.Services.GetRequiredService<IModelStore>();
            Assert.IsType<PostgresModelStore>(store);
            var onnx = Path.Combine(TestRepository.Shipped, "digits", "2", "model.onnx");
            await store.SaveAsync(new StoredVersion(model, "3", ModelFiles.Sha256Hex(onnx), new FileInfo(onnx).Length, null, null, DateTimeOffset.UtcNow), onnx);
            Assert.True((await grains.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.DefaultKey).AddVersionAsync(model, "3")).Ready);

            var started = await grains.GetGrain<IModelExperimentsGrain>(model).StartAsync(new ExperimentSpec(
                ExperimentKinds.Canary, "3", "2", [30, 100], MinSamples: 1_000_000, DwellSeconds: 0, Confidence: 0.99, MaxErrorRate: 0.05,
                LatencyTolerance: 1, Margin: 0.02, MinLabels: 50, PromoteWhenBetter: true));
            experiment = started.Id;
            await first.StopAsync();
        }

        // A new silo on a repository folder that never saw version 3: it comes from PostgreSQL.
        using var second = await StartAsync(clusterId, Repository(model));
        var again = second.Services.GetRequiredService<IGrainFactory>();
        Assert.Contains("3", (await again.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.DefaultKey).GetModelAsync(model))!.Versions);
        var policy = await again.GetGrain<IModelFleetGrain>(model).GetPolicyAsync();
        Assert.Equal(experiment, policy.Experiment);
        Assert.Equal([new VersionShare("3", 3000), new VersionShare("2", 7000)], policy.Split);

        var router = again.GetGrain<IInferenceRouterGrain>(0);
        var answer = await router.InferAsync(new InferenceRequest(model, "3", [Samples.Pixels(0)]));
        Assert.Equal("3", answer.Version);

        // The uploaded version breaks; users' traffic alone brings the rollout back and it rolls back.
        await again.GetGrain<IModelFleetGrain>(model).SetFaultsAsync("3", new VersionFaults(1.0, 0));
        var giveUp = DateTime.UtcNow.AddSeconds(30);
        var i = 0;
        var rollout = again.GetGrain<IModelExperimentsGrain>(model);
        while (DateTime.UtcNow < giveUp && (await rollout.GetAsync(experiment))!.State == ExperimentStates.Running)
        {
            await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Try(() => router.InferAsync(new InferenceRequest(model, null, [Samples.Pixels(0)], User: $"user-{i++ % 200}")))));
        }

        var ended = await rollout.GetAsync(experiment);
        Assert.Equal(ExperimentStates.RolledBack, ended!.State);
        Assert.Equal(["start", "rollback"], ended.Decisions.Select(d => d.Action));
        Assert.Equal("2", (await again.GetGrain<IModelFleetGrain>(model).GetPolicyAsync()).DefaultVersion);
        await second.StopAsync();
    }

    private static async Task Try(Func<Task> call)
    {
        try
        {
            await call();
        }
        catch (AiFleetException)
        {
        }
    }

    private static string Repository(string model) => TestRepository.Create("digits", (model, c => c["replicas"] = new JsonObject
    {
        ["minReplicas"] = 1, ["maxReplicas"] = 2, ["targetInFlightPerReplica"] = 32, ["upscaleDelayMs"] = 1000, ["downscaleDelayMs"] = 30000,
    }));

    private Task<IHost> StartAsync(string clusterId, string repository) =>
        TestHosts.StartClusterSiloAsync(postgres.ConnectionString, clusterId, TestHosts.FreePort(), TestHosts.FreePort(), redis.Address, repository: repository);
}
