using System.Diagnostics;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>
/// Which lane a replica serves first, on the compute-bound sentence encoder (batches of 4 rows, shares 16:4:1): a
/// batch of long sentences runs while the test queues requests behind it, so the next batches are chosen from a
/// known queue.
/// </summary>
public sealed class LaneOrderTests(SentenceEncoderLanesFixture fixture) : IClassFixture<SentenceEncoderLanesFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private IModelReplicaGrain Replica => fixture.Client.GetGrain<IModelReplicaGrain>(ReplicaKey.Format("lanes-order", "1", 0));

    [Fact]
    public async Task QueuedBehindARun_HighLaneIsServedBeforeEarlierLowRequests()
    {
        var blocker = await StartLongBatchAsync();
        var clock = Stopwatch.StartNew();
        var low = Enumerable.Range(0, 4).Select(i => TimedAsync(Sentence(i, 64, Priority.Low), clock)).ToArray();
        await BatchingTests.WaitForQueueAsync(Replica, 4);
        var high = Enumerable.Range(4, 4).Select(i => TimedAsync(Sentence(i, 64, Priority.High), clock)).ToArray();
        await BatchingTests.WaitForQueueAsync(Replica, 8);
        Assert.False(blocker.IsCompleted, "the long batch ended before the test had queued behind it; the ordering was not exercised");

        await blocker.WaitAsync(Deadline);
        var lowDone = await Task.WhenAll(low).WaitAsync(Deadline);
        var highDone = await Task.WhenAll(high).WaitAsync(Deadline);
        Assert.True(highDone.Max() < lowDone.Min(),
            $"high answered at {string.Join(", ", highDone)} ms, low (queued earlier) at {string.Join(", ", lowDone)} ms");
    }

    [Fact]
    public async Task SteadyHighLoad_LowRequestStillGetsItsShare()
    {
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 16).Select(i => HighClientAsync(i, stop.Token)).ToArray(); // a batch or more of high rows always waiting
        await Eventually.TrueAsync(async () => (await Replica.GetStatusAsync()).QueueLength >= 8, "a queue of high requests");

        var low = Replica.InferAsync(Sentence(0, 64, Priority.Low));
        var served = await Task.WhenAny(low, Task.Delay(TimeSpan.FromSeconds(20)));
        var highStillRunning = clients.All(c => !c.IsCompleted);
        await stop.CancelAsync();
        var answered = await Task.WhenAll(clients);

        Assert.Same(low, served);
        Assert.True(highStillRunning, "the high clients stopped before the low request was served");
        Assert.True(answered.Sum() > 0);
        Assert.Equal(384, (await low).Outputs[0].Shape[1]);
    }

    /// <summary>A batch of 4 sentences of 256 tokens, returned once it runs (hundreds of ms on the CPU).</summary>
    private async Task<Task<InferenceResponse>> StartLongBatchAsync()
    {
        var call = Replica.InferAsync(Sentence(0, 256, Priority.Normal, rows: 4));
        await Eventually.TrueAsync(async () => call.IsCompleted || (await Replica.GetStatusAsync()).Running > 0, "the long batch to start");
        return call;
    }

    private async Task<int> HighClientAsync(int i, CancellationToken stop)
    {
        var answered = 0;
        while (!stop.IsCancellationRequested)
        {
            await Replica.InferAsync(Sentence(i, 64, Priority.High));
            answered++;
        }

        return answered;
    }

    private async Task<long> TimedAsync(InferenceRequest request, Stopwatch clock)
    {
        await Replica.InferAsync(request);
        return clock.ElapsedMilliseconds;
    }

    private static InferenceRequest Sentence(int i, int tokens, Priority priority, int rows = 1)
    {
        var ids = Enumerable.Range(0, rows).SelectMany(_ => Enumerable.Range(0, tokens).Select(t => (long)(t == 0 ? 2 : 50 + ((t + i) % 400)))).ToArray();
        var mask = ids.Select(_ => 1L).ToArray();
        return new InferenceRequest("lanes-order", null,
            [Tensor.FromInt64s("input_ids", [rows, tokens], ids), Tensor.FromInt64s("attention_mask", [rows, tokens], mask)],
            ["sentence_embedding"], Priority: priority);
    }
}
