using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests;

public sealed class InferenceRouterGrainTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private IInferenceRouterGrain Router => fixture.Client.GetGrain<IInferenceRouterGrain>(0);

    [Fact]
    public async Task InferAsync_NoVersion_ServesTheDefaultVersion()
    {
        var response = await Router.InferAsync(Samples.Digit("digits", 0));

        Assert.Equal("digits", response.Model);
        Assert.Equal("2", response.Version);
    }

    [Fact]
    public async Task InferAsync_ExplicitVersion_ServesThatVersionsWeights()
    {
        var response = await Router.InferAsync(Samples.Digit("digits", 0, version: "1", outputs: "logits"));

        Assert.Equal("1", response.Version);
        Reference.AssertClose(Reference.Run("digits", "1", [Samples.Pixels(0)], "logits"), response.Outputs[0].Fp32!);
    }

    [Fact]
    public async Task InferAsync_UnknownModel_ThrowsModelNotFound()
    {
        var error = await FailureAssert.ThrowsAsync(FailureKind.NotFound, () => Router.InferAsync(Samples.Digit("no-such-model", 0)));
        Assert.Contains("'no-such-model' is not in the repository", error.Message);
    }

    [Fact]
    public async Task InferAsync_UnknownVersion_ThrowsModelNotFoundListingVersions()
    {
        var error = await FailureAssert.ThrowsAsync(FailureKind.NotFound, () => Router.InferAsync(Samples.Digit("digits", 0, version: "7")));
        Assert.Contains("has no version '7' (it has 1, 2)", error.Message);
    }

    [Fact]
    public async Task InferAsync_ManyConcurrentRequests_SpreadOverEveryReplica()
    {
        var replicas = Enumerable.Range(0, 2).Select(i => fixture.Client.GetGrain<IModelReplicaGrain>(ReplicaKey.Format("text-encoder", "1", i))).ToArray();
        var before = await Task.WhenAll(replicas.Select(r => r.GetStatusAsync()));

        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Router.InferAsync(Samples.Sentence(i, 8, "sentence_embedding"))));

        var after = await Task.WhenAll(replicas.Select(r => r.GetStatusAsync()));
        var served = after.Zip(before, (a, b) => a.CompletedRequests - b.CompletedRequests).ToArray();
        Assert.True(served.Sum() >= 200, $"replicas served {served.Sum()} of 200");
        Assert.All(served, s => Assert.True(s > 0, $"a replica served none: {string.Join(", ", served)}"));
    }
}
