using System.Net;
using System.Text.Json.Nodes;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>A full queue (or priority lane) answers 429 with Retry-After at once; a request past its timeout answers 504.</summary>
public sealed class BackPressureApiTests(ManualClockApiFixture fixture) : IClassFixture<ManualClockApiFixture>
{
    [Fact]
    public async Task Infer_QueueFull_Returns429WithRetryAfterThenServesTheQueued()
    {
        await PrimeReplicasAsync("tiny-queue");
        var queued = Enumerable.Range(0, 4).Select(i => fixture.Http.PostJsonAsync("/v2/models/tiny-queue/infer", KServe.DigitsBody(i))).ToArray();
        await WaitUntilQueuedAsync("tiny-queue", 4); // two replicas, two queued each: both full

        var refused = await fixture.Http.PostJsonAsync("/v2/models/tiny-queue/infer", KServe.DigitsBody(5));

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {refused.Headers.RetryAfter}");
        Assert.Contains("queue is full (2 requests)", (await refused.JsonAsync()).GetProperty("error").GetString());

        fixture.Time.Advance(TimeSpan.FromSeconds(1)); // the batching delay
        Assert.All(await Task.WhenAll(queued), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
    }

    [Fact]
    public async Task Infer_NotServedWithinTimeout_Returns504()
    {
        await PrimeReplicasAsync("tiny-timeout");
        var waiting = fixture.Http.PostJsonAsync("/v2/models/tiny-timeout/infer", KServe.DigitsBody(1));
        await WaitUntilQueuedAsync("tiny-timeout", 1);

        fixture.Time.Advance(TimeSpan.FromSeconds(3)); // the request timeout, before the 5 s batching delay
        var response = await waiting;

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Contains("did not answer within 3000 ms", (await response.JsonAsync()).GetProperty("error").GetString());
        fixture.Time.Advance(TimeSpan.FromSeconds(5)); // let the abandoned batch come due
        await WaitUntilQueuedAsync("tiny-timeout", 0);
    }

    [Fact]
    public async Task Infer_ClientHangsUpWhileQueued_LeavesTheReplicasQueue()
    {
        await PrimeReplicasAsync("tiny-queue");
        using var hangUp = new CancellationTokenSource();
        var waiting = fixture.Http.PostAsync("/v2/models/tiny-queue/infer",
            new StringContent(KServe.DigitsBody(2).ToJsonString(), System.Text.Encoding.UTF8, "application/json"), hangUp.Token);
        await WaitUntilQueuedAsync("tiny-queue", 1); // held: the batching delay passes only when the test moves the clock

        await hangUp.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await WaitUntilQueuedAsync("tiny-queue", 0); // taken out of the queue by the cancellation, the clock never moved
    }

    [Fact]
    public async Task Infer_Overloaded_FreeKeysGet429WhilePremiumKeysAreStillQueued()
    {
        using var free = fixture.Client(await fixture.NewUserKeyAsync("lanes-free", "free"));
        using var premium = fixture.Client(await fixture.NewUserKeyAsync("lanes-premium", "premium"));
        await PrimeReplicasAsync("tiny-lanes", replicas: 1);
        var queued = new List<Task<HttpResponseMessage>> { free.PostJsonAsync("/v2/models/tiny-lanes/infer", KServe.DigitsBody(0)) };
        await WaitUntilQueuedAsync("tiny-lanes", 1, replicas: 1); // the low lane holds 1

        var refusedFree = await free.PostJsonAsync("/v2/models/tiny-lanes/infer", KServe.DigitsBody(1));
        var askedLow = KServe.DigitsBody(2);
        askedLow["parameters"] = new JsonObject { ["priority"] = "low" };
        var refusedAskedLow = await premium.PostJsonAsync("/v2/models/tiny-lanes/infer", askedLow);
        queued.AddRange(Enumerable.Range(3, 4).Select(i => premium.PostJsonAsync("/v2/models/tiny-lanes/infer", KServe.DigitsBody(i))));
        await WaitUntilQueuedAsync("tiny-lanes", 5, replicas: 1); // 4 more in the high lane, past the 4 the model allows in one

        foreach (var refused in new[] { refusedFree, refusedAskedLow })
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Contains("queue is full (1 requests) in the low lane", (await refused.JsonAsync()).GetProperty("error").GetString());
        }

        var badPriority = KServe.DigitsBody(7);
        badPriority["parameters"] = new JsonObject { ["priority"] = "urgent" };
        var invalid = await premium.PostJsonAsync("/v2/models/tiny-lanes/infer", badPriority);
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("'parameters.priority' must be one of low, normal, high", (await invalid.JsonAsync()).GetProperty("error").GetString());

        fixture.Time.Advance(TimeSpan.FromSeconds(1)); // the batching delay
        Assert.All(await Task.WhenAll(queued), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
    }

    private IModelReplicaGrain[] Replicas(string model, int replicas = 2) =>
        Enumerable.Range(0, replicas).Select(i => fixture.Grains.GetGrain<IModelReplicaGrain>(ReplicaKey.Format(model, "2", i))).ToArray();

    /// <summary>32 rows at once on each replica set its demand estimate to 32, so later single requests wait for
    /// company until the batching delay, which passes only when the test moves the manual clock.</summary>
    private Task PrimeReplicasAsync(string model, int replicas = 2) =>
        Task.WhenAll(Replicas(model, replicas).Select(r => r.InferAsync(new InferenceRequest(model, null, [Samples.Pixels(0, Samples.DigitCount)]))));

    private async Task<int> QueuedAsync(string model, int replicas) =>
        (await Task.WhenAll(Replicas(model, replicas).Select(r => r.GetStatusAsync()))).Sum(s => s.QueueLength);

    private Task WaitUntilQueuedAsync(string model, int expected, int replicas = 2) =>
        Eventually.TrueAsync(async () => await QueuedAsync(model, replicas) == expected, $"{expected} queued requests on {model}");
}
