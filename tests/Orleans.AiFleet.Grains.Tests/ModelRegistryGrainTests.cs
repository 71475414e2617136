using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.Grains.Tests;

public sealed class ModelRegistryGrainTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private IModelRegistryGrain Registry => fixture.Client.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.DefaultKey);

    [Fact]
    public async Task ListModelsAsync_ShippedRepository_DescribesBothModels()
    {
        var models = await Registry.ListModelsAsync();

        var digits = Assert.Single(models, m => m.Name == "digits");
        Assert.Equal(["1", "2"], digits.Versions);
        Assert.Equal("2", digits.DefaultVersion);
        Assert.Equal(64, digits.MaxBatchSize);
        var pixels = Assert.Single(digits.Inputs);
        Assert.Equal(("pixels", TensorDataType.Fp32), (pixels.Name, pixels.DataType));
        Assert.Equal([-1L, 64L], pixels.Shape);

        var encoder = Assert.Single(models, m => m.Name == "text-encoder");
        Assert.Equal(["input_ids", "attention_mask"], encoder.Inputs.Select(i => i.Name));
        Assert.Equal(["last_hidden_state", "sentence_embedding"], encoder.Outputs.Select(o => o.Name));
    }

    [Fact]
    public async Task GetModelAsync_UnknownName_ReturnsNull() => Assert.Null(await Registry.GetModelAsync("nope"));

    [Fact]
    public async Task LoadAllAsync_WarmsEveryReplicaBeforeReportingReady()
    {
        var readiness = await Registry.LoadAllAsync();

        Assert.Equal(5, readiness.Count); // digits 1 and 2, text-encoder 1, sentence-encoder 1, chat-lm 1
        Assert.All(readiness, r => Assert.True(r.Ready, $"{r.Model}/{r.Version}: {r.ReadyReplicas}/{r.Replicas} {r.Error}"));

        // digits version 1 serves no other test's requests: its session has run exactly the two warm-ups.
        var statuses = await Task.WhenAll(Enumerable.Range(0, 2)
            .Select(i => fixture.Client.GetGrain<IModelReplicaGrain>(ReplicaKey.Format("digits", "1", i)).GetStatusAsync()));
        Assert.All(statuses, s =>
        {
            Assert.True(s.Ready);
            Assert.NotNull(s.WarmedUpAt);
            Assert.Equal(0, s.CompletedRequests);
            Assert.Equal("CPU", s.ExecutionProvider);
        });
        Assert.Equal(2, fixture.Sessions.Peek("digits", "1")!.RunCount);
        Assert.Equal(readiness, await Registry.GetReadinessAsync());
    }
}
