using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>
/// Priority lanes on the manual clock (the <c>lanes</c> model: 2 queued at most in the low lane, 8 in the others, a
/// 2 s timeout in the low lane, 60 s in the others, a 5 s batching delay): per-lane queue limits, per-lane timeouts,
/// and the user tier capping the lane a request may ask for.
/// </summary>
public sealed class PriorityLaneTests(ManualClockClusterFixture fixture) : IClassFixture<ManualClockClusterFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private IModelReplicaGrain Replica => fixture.Client.GetGrain<IModelReplicaGrain>(ReplicaKey.Format("lanes", "2", 0));

    private IInferenceRouterGrain Router => fixture.Client.GetGrain<IInferenceRouterGrain>(0);

    private static InferenceRequest Digit(int i, Priority? priority, string? user = null, string? tier = null) =>
        Samples.Digit("lanes", i) with { Priority = priority, User = user, UserTier = tier };

    [Fact]
    public async Task InferAsync_LowLaneFull_RefusesLowButQueuesHigherLanes()
    {
        await HoldBatchesAsync();
        var low = Enumerable.Range(0, 2).Select(i => Replica.InferAsync(Digit(i, Priority.Low))).ToArray();
        await BatchingTests.WaitForQueueAsync(Replica, 2);

        var refused = await FailureAssert.ThrowsAsync(FailureKind.RateLimited, () => Replica.InferAsync(Digit(2, Priority.Low)));
        Assert.Contains("queue is full (2 requests) in the low lane", refused.Message);
        Assert.Equal(FailureCodes.Overloaded, refused.Code);

        var higher = new[] { Replica.InferAsync(Digit(3, Priority.High)), Replica.InferAsync(Digit(4, null)), Replica.InferAsync(Digit(5, Priority.Normal)) };
        await BatchingTests.WaitForQueueAsync(Replica, 5);
        Assert.All(low.Concat(higher), t => Assert.False(t.IsCompleted));

        await FillBatchAsync(queuedRows: 5);
        var answers = await Task.WhenAll(low.Concat(higher)).WaitAsync(Deadline);
        Assert.All(answers, a => Assert.Equal([1L, 10L], a.Outputs[0].Shape));
        Assert.Equal(0, (await Replica.GetStatusAsync()).QueueLength);
    }

    [Fact]
    public async Task InferAsync_LowLaneTimeout_ExpiresLowRequestsOnly()
    {
        await HoldBatchesAsync();
        var low = Replica.InferAsync(Digit(0, Priority.Low));
        var normal = Replica.InferAsync(Digit(1, Priority.Normal));
        await BatchingTests.WaitForQueueAsync(Replica, 2);

        fixture.Time.Advance(TimeSpan.FromMilliseconds(2000));
        var error = await FailureAssert.ThrowsAsync(FailureKind.Timeout, () => low.WaitAsync(Deadline));
        Assert.Contains("did not answer within 2000 ms (the low lane's request timeout)", error.Message);
        await BatchingTests.WaitForQueueAsync(Replica, 1);
        Assert.False(normal.IsCompleted);

        fixture.Time.Advance(TimeSpan.FromSeconds(3)); // the batching delay
        Assert.Equal("2", (await normal.WaitAsync(Deadline)).Version);
    }

    [Fact]
    public async Task RouterInferAsync_FreeUserAskingForHigh_IsQueuedInTheLowLane()
    {
        await HoldBatchesAsync();
        var free = Enumerable.Range(0, 2).Select(i => Router.InferAsync(Digit(i, Priority.High, "lanes-free-user", "free"))).ToArray();
        await BatchingTests.WaitForQueueAsync(Replica, 2);

        // The free tier's lane is low whatever is asked; a premium user may ask for a lower lane than theirs.
        var refusedFree = await FailureAssert.ThrowsAsync(FailureKind.RateLimited, () => Router.InferAsync(Digit(2, Priority.High, "lanes-free-user", "free")));
        Assert.Contains("in the low lane", refusedFree.Message);
        var refusedPremium = await FailureAssert.ThrowsAsync(FailureKind.RateLimited, () => Router.InferAsync(Digit(3, Priority.Low, "lanes-premium-user", "premium")));
        Assert.Contains("in the low lane", refusedPremium.Message);
        var premium = Router.InferAsync(Digit(4, null, "lanes-premium-user", "premium"));
        await BatchingTests.WaitForQueueAsync(Replica, 3);

        await FillBatchAsync(queuedRows: 3);
        await Task.WhenAll(free.Append(premium)).WaitAsync(Deadline);
    }

    /// <summary>Completes the batch being formed (64 rows) so that it runs at once, before any timeout.</summary>
    private Task FillBatchAsync(int queuedRows) =>
        Replica.InferAsync(new InferenceRequest("lanes", null, [BatchingTests.Rows(64 - queuedRows)], Priority: Priority.High)).WaitAsync(Deadline);

    /// <summary>A full 64-row batch first (it runs at once): the demand estimate becomes 64, so later batches wait the 5 s delay.</summary>
    private async Task HoldBatchesAsync()
    {
        await Replica.InferAsync(new InferenceRequest("lanes", null, [BatchingTests.Rows(64)])).WaitAsync(Deadline);
    }
}
