using System.Net;
using System.Net.Http.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// The largest requests a model takes, many at once, leave the process's memory where it was: each is bounded by the
/// model's maxBatchElements (a request past it is a 413 before anything is allocated) and ONNX Runtime hands back what
/// a run used. The review saw one chat-lm request of [64, 2048] pin 0.6 GB for good.
/// </summary>
[Collection(MemoryFloodCollection.Name)]
public sealed class NativeMemoryFloodTests(ApiFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    private const long BoundBytes = 100L << 20;

    [Fact]
    public async Task AnOverLargeRequest_Is413_AndAFloodOfMaximalOnes_LeavesResidentMemoryWithin100MB()
    {
        using var tooLarge = await fixture.Http.PostAsJsonAsync("/v2/models/chat-lm/infer", KServe.ChatLmBody(64, 2048));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Contains("maxBatchElements", await tooLarge.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        await FloodAsync(KServe.ChatLmBody(1, 16), 16); // warm with small requests: the code paths, not the memory
        var before = Resident();
        var maximal = KServe.ChatLmBody(8, 2048); // 16,384 tokens: chat-lm's maxBatchElements

        await FloodAsync(maximal, 64);
        var peak = Resident();

        long after = 0;
        await Eventually.TrueAsync(() =>
        {
            after = Resident();
            return Task.FromResult(after - before < BoundBytes);
        }, $"resident memory back within {BoundBytes >> 20} MB of {before >> 20} MB", TimeSpan.FromSeconds(30));
        output.WriteLine($"resident before {before >> 20} MB, right after 64 maximal requests {peak >> 20} MB, settled {after >> 20} MB");
    }

    private async Task FloodAsync(object body, int count)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                using var response = await fixture.Http.PostAsJsonAsync("/v2/models/chat-lm/infer", body);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }));
    }

    /// <summary>This process's resident set (VmRSS), after a full collection of the managed heap.</summary>
    private static long Resident()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}
