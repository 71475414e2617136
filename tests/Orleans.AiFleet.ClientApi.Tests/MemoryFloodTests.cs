using System.Net;
using System.Security.Cryptography;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>Run alone: it measures this process's managed heap, which other tests' traffic would disturb.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryFloodCollection : ICollectionFixture<ApiFixture>
{
    public const string Name = "memory-flood";
}

/// <summary>
/// Floods without a valid key leave memory where it was: made-up keys of any shape and made-up model names are refused
/// without growing a cache. The stated bound is <see cref="BoundBytes"/> of managed heap after all three floods (the
/// review saw 245 MB after 5,000 bogus 14 KB keys, and 146 MB after 20 unknown 2 MB names).
/// </summary>
[Collection(MemoryFloodCollection.Name)]
public sealed class MemoryFloodTests(ApiFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    private const long BoundBytes = 32L << 20;
    private const int Requests = 2_000;

    [Fact]
    public async Task FloodsOfBogusKeysAndUnknownNames_LeaveTheHeapWithinTheBound()
    {
        await WarmUpAsync();
        var before = Heap();

        // Random 14 KB bearers, random well-shaped keys (each a real lookup), and unknown 128-character model names.
        await FloodAsync(i => Send(RandomText(14 * 1024), "/v1/models"), HttpStatusCode.Unauthorized);
        await FloodAsync(i => Send("afk_" + Base64Url(RandomNumberGenerator.GetBytes(32)), "/v1/models"), HttpStatusCode.Unauthorized);
        await FloodAsync(i => Send(TestKeys.Admin, $"/v2/models/{RandomName(128)}/ready"), HttpStatusCode.NotFound);

        var growth = Heap() - before;
        output.WriteLine($"managed heap before {before >> 20} MB, growth {growth / 1024} KB over {3 * Requests} bogus requests");
        Assert.True(growth < BoundBytes, $"the heap grew by {growth / (1 << 20)} MB over {3 * Requests} bogus requests (bound {BoundBytes >> 20} MB)");
    }

    private async Task WarmUpAsync()
    {
        await FloodAsync(i => Send(RandomText(64), "/v1/models"), HttpStatusCode.Unauthorized, count: 200);
        await FloodAsync(i => Send(TestKeys.Admin, $"/v2/models/{RandomName(16)}/ready"), HttpStatusCode.NotFound, count: 200);
    }

    private HttpRequestMessage Send(string key, string path)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.BaseAddress, path));
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        return request;
    }

    private static async Task FloodAsync(Func<int, HttpRequestMessage> make, HttpStatusCode expected, int count = Requests)
    {
        using var http = new HttpClient();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                using var request = make(next);
                using var response = await http.SendAsync(request);
                Assert.Equal(expected, response.StatusCode);
            }
        }));
    }

    private static long Heap()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static string RandomText(int length) => Convert.ToHexString(RandomNumberGenerator.GetBytes(length / 2));

    private static string RandomName(int length) => RandomText(length).ToLowerInvariant();

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
