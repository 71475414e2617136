using System.Diagnostics;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>A caller that gives up on a long ONNX run stops the run itself, not only its place in the queue.</summary>
public sealed class RunTerminationTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    /// <summary>The encoder's largest request: 32 rows of 512 tokens, its costliest single run.</summary>
    private static InferenceRequest Longest()
    {
        const int rows = 32, tokens = 512;
        var ids = new long[rows * tokens];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = 5 + (i % 200);
        }

        var mask = Enumerable.Repeat(1L, ids.Length).ToArray();
        return new InferenceRequest("text-encoder", "1",
            [Tensor.FromInt64s("input_ids", [rows, tokens], ids), Tensor.FromInt64s("attention_mask", [rows, tokens], mask)],
            ["sentence_embedding"]);
    }

    [Fact]
    public async Task CancelledDuringItsRun_TheRunIsTerminated_AndTheReplicaServesTheNextRequest()
    {
        var replica = fixture.Client.GetGrain<IModelReplicaGrain>(ReplicaKey.Format("text-encoder", "1", 1));
        var request = Longest();
        await replica.InferAsync(request); // warm at this shape
        var clock = Stopwatch.StartNew();
        await replica.InferAsync(request);
        var whole = clock.Elapsed;
        var before = await replica.GetStatusAsync();

        // Hang up once the run is seen running. On a busy machine (CI runs the test assemblies side by side) the status
        // answer or the hang-up can arrive after the run has ended; such an attempt proves nothing and is tried again.
        var after = before;
        var terminated = false;
        for (var attempt = 0; attempt < 3 && !terminated; attempt++)
        {
            // A previous attempt's run may still be finishing: its counts must land before this attempt's baseline.
            await Eventually.TrueAsync(async () => (await replica.GetStatusAsync()) is { Running: 0, QueueLength: 0 }, "the replica to be idle");
            before = await replica.GetStatusAsync();
            using var hangUp = new CancellationTokenSource();
            var call = replica.InferAsync(request, hangUp.Token);
            for (var waited = Stopwatch.StartNew(); !call.IsCompleted && (await replica.GetStatusAsync()).Running == 0; await Task.Delay(1))
            {
                Assert.True(waited.Elapsed < Deadline, "the request's run never started");
            }

            if (call.IsCompleted)
            {
                continue; // ended before it was seen running
            }

            await hangUp.CancelAsync(); // inside the run, which lasts about as long as the one timed above
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(Deadline));
            after = await replica.GetStatusAsync();
            for (var waited = Stopwatch.StartNew(); after.TerminatedRuns == before.TerminatedRuns && waited.Elapsed < whole * 4 + TimeSpan.FromSeconds(1); after = await replica.GetStatusAsync())
            {
                await Task.Delay(10);
            }

            terminated = after.TerminatedRuns == before.TerminatedRuns + 1;
        }

        Assert.True(terminated, $"the run of {whole.TotalMilliseconds:0} ms was not terminated in 3 tries");
        Assert.Equal(before.CompletedRequests, after.CompletedRequests); // the cancelled request was not answered as done
        var next = await replica.InferAsync(request with { Inputs = [request.Inputs[0] with { Shape = [1, 512], Int64 = request.Inputs[0].Int64![..512] },
            request.Inputs[1] with { Shape = [1, 512], Int64 = request.Inputs[1].Int64![..512] }] }).WaitAsync(Deadline);
        Assert.Equal([1L, 64L], next.Outputs[0].Shape);
    }
}
