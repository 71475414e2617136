using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>Batching, back-pressure, timeouts and unloading, on a manual clock so every deadline is the test's.</summary>
public sealed class BatchingTests(ManualClockClusterFixture fixture) : IClassFixture<ManualClockClusterFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private IModelReplicaGrain Replica(string model, int index) =>
        fixture.Client.GetGrain<IModelReplicaGrain>(ReplicaKey.Format(model, "2", index));

    [Fact]
    public async Task InferAsync_ConcurrentRequests_RunAsOneBatch()
    {
        var replica = Replica("batching", 0);
        await replica.InferAsync(Samples.Digit("batching", 0, rows: 8)); // 8 rows at once: the demand estimate becomes 8
        var before = await replica.GetStatusAsync();

        var calls = Enumerable.Range(0, 8).Select(i => replica.InferAsync(Samples.Digit("batching", i, outputs: "probabilities"))).ToArray();
        var responses = await Task.WhenAll(calls);

        var after = await replica.GetStatusAsync();
        Assert.Equal(1, after.Batches - before.Batches);
        Assert.Equal(8, after.CompletedRequests - before.CompletedRequests);
        for (var i = 0; i < 8; i++)
        {
            Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(i)], "probabilities"), responses[i].Outputs[0].Fp32!);
        }
    }

    [Fact]
    public async Task InferAsync_QueueFull_RefusesAtOnceAndServesTheQueued()
    {
        var replica = Replica("small-queue", 0);
        await replica.InferAsync(new InferenceRequest("small-queue", null, [Rows(64)])); // demand estimate: 64 rows
        var queued = Enumerable.Range(0, 4).Select(i => replica.InferAsync(Samples.Digit("small-queue", i))).ToArray();
        await WaitForQueueAsync(replica, 4);

        var refused = await FailureAssert.ThrowsAsync(FailureKind.RateLimited, () => replica.InferAsync(Samples.Digit("small-queue", 5)));
        Assert.Contains("queue is full (4 requests)", refused.Message);
        Assert.True(refused.RetryAfter > TimeSpan.Zero);
        Assert.Equal(FailureCodes.Overloaded, refused.Code);
        Assert.All(queued, q => Assert.False(q.IsCompleted));

        fixture.Time.Advance(TimeSpan.FromSeconds(1)); // the oldest has now waited maxQueueDelayMs
        var responses = await Task.WhenAll(queued).WaitAsync(Deadline);
        Assert.All(responses, r => Assert.Equal([1L, 10L], r.Outputs[0].Shape));
        Assert.Equal(0, (await replica.GetStatusAsync()).QueueLength);
    }

    [Fact]
    public async Task InferAsync_NotRunWithinRequestTimeout_TimesOutAndLeavesTheQueue()
    {
        var replica = Replica("short-timeout", 0);
        await replica.InferAsync(new InferenceRequest("short-timeout", null, [Rows(64)]));
        var waiting = replica.InferAsync(Samples.Digit("short-timeout", 0));
        await WaitForQueueAsync(replica, 1);

        fixture.Time.Advance(TimeSpan.FromMilliseconds(2000)); // requestTimeoutMs, before the 5 s batching delay
        var error = await FailureAssert.ThrowsAsync(FailureKind.Timeout, () => waiting.WaitAsync(Deadline));
        Assert.Contains("did not answer within 2000 ms", error.Message);
        Assert.Equal(0, (await replica.GetStatusAsync()).QueueLength);

        fixture.Time.Advance(TimeSpan.FromSeconds(5)); // the abandoned batch comes due and runs nothing
        // A full batch runs at once, whether or not the batch loop has woken yet; a lone row would wait for its own
        // 5 s delay on the stopped clock (and time out first), so the test once depended on who got there first.
        var after = await replica.InferAsync(new InferenceRequest("short-timeout", null, [Rows(64)])).WaitAsync(Deadline);
        Assert.Equal("2", after.Version);
    }

    [Fact]
    public async Task UnloadAsync_LastReplicaOfAVersion_DisposesItsSharedSession()
    {
        var replicas = Enumerable.Range(0, 2).Select(i => Replica("unload", i)).ToArray();
        await Task.WhenAll(replicas.Select(r => r.WarmUpAsync()));
        var session = fixture.Sessions.Peek("unload", "2");
        Assert.NotNull(session);
        var disposalsBefore = fixture.Sessions.Disposals;

        await replicas[0].UnloadAsync();
        var served = await replicas[1].InferAsync(Samples.Digit("unload", 0)); // the other replica still serves
        Assert.Equal("2", served.Version);
        Assert.Same(session, fixture.Sessions.Peek("unload", "2"));
        Assert.False(session.IsDisposed);

        await replicas[1].UnloadAsync();
        await Eventually.TrueAsync(() => Task.FromResult(session.IsDisposed && fixture.Sessions.Disposals == disposalsBefore + 1), "the session to be disposed");
        Assert.Null(fixture.Sessions.Peek("unload", "2"));
    }

    [Fact]
    public async Task RegistryUnloadAsync_LoadedVersion_ReportsUnloadedAndFreesTheSession()
    {
        var registry = fixture.Client.GetGrain<IModelRegistryGrain>(IModelRegistryGrain.DefaultKey);
        await Task.WhenAll(Enumerable.Range(0, 2).Select(i => fixture.Client.GetGrain<IModelReplicaGrain>(ReplicaKey.Format("unload", "1", i)).WarmUpAsync()));
        var session = fixture.Sessions.Peek("unload", "1");
        Assert.NotNull(session);

        await registry.UnloadAsync("unload", "1");

        await Eventually.TrueAsync(() => Task.FromResult(session.IsDisposed), "the session to be disposed");
        var readiness = Assert.Single(await registry.GetReadinessAsync(), r => r is { Model: "unload", Version: "1" });
        Assert.False(readiness.Ready);
        Assert.Equal("unloaded", readiness.Error);
        var fleet = await fixture.Client.GetGrain<IModelFleetGrain>("unload").GetStatusAsync(); // the unload went through the fleet
        Assert.Empty(fleet.Versions.Single(v => v.Version == "1").InRotation);
        Assert.Contains(fleet.RecentEvents, e => e is { Version: "1", To: 0 } && e.Reason.StartsWith("unloaded on request", StringComparison.Ordinal));
    }

    internal static Tensor Rows(int rows) =>
        Tensor.FromFloats("pixels", [rows, 64], Enumerable.Range(0, rows).SelectMany(i => Samples.Pixels(i % Samples.DigitCount).Fp32!).ToArray());

    internal static Task WaitForQueueAsync(IModelReplicaGrain replica, int length) =>
        Eventually.TrueAsync(async () => (await replica.GetStatusAsync()).QueueLength == length, $"queue length {length}");
}
