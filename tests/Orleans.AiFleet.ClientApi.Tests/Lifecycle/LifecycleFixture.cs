using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Tests.Lifecycle;

/// <summary>
/// An embedded host with one copy of digits (both versions, one replica each) per lifecycle test class, so each owns
/// its model's traffic policy and experiments; reports every 100 ms, experiments tested every 200 ms, every input
/// sampled for drift.
/// </summary>
public sealed class LifecycleFixture() : ApiFixtureBase(TestRepository.Create("digits",
    Copy("split"), Copy("shadow"), Copy("canary-errors"), Copy("canary-latency"), Copy("canary-good"), Copy("ab"), Copy("feedback"), Copy("drift"), Copy("console"),
    Copy("fair-pinned"), Copy("fair-cap")))
{
    private static (string, Action<System.Text.Json.Nodes.JsonObject>) Copy(string name) =>
        (name, c => c["replicas"] = new System.Text.Json.Nodes.JsonObject
        {
            ["minReplicas"] = 1, ["maxReplicas"] = 2, ["targetInFlightPerReplica"] = 32, ["upscaleDelayMs"] = 1000, ["downscaleDelayMs"] = 30000,
        });

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("AiFleet:Lifecycle:ReportEvery", "00:00:00.1");
        builder.UseSetting("AiFleet:Lifecycle:EvaluateEvery", "00:00:00.2");
        builder.UseSetting("AiFleet:Lifecycle:DriftSampleEvery", "1");
        builder.UseSetting("AiFleet:Lifecycle:DriftWindow", "200");
        builder.UseSetting("AiFleet:Fleet:DrainAfter", "00:00:00.05");
    }

    /// <summary>
    /// Sends held-out digits through the router (the path /v2 takes after authentication) as <paramref name="users"/>
    /// distinct users, <paramref name="parallel"/> at a time, until <paramref name="done"/> or the time runs out.
    /// </summary>
    public async Task<Traffic> DriveAsync(string model, int users, Func<Traffic, bool> done, TimeSpan? giveUpAfter = null, int parallel = 8, Func<float, float>? shift = null)
    {
        var traffic = new Traffic();
        var router = Grains.GetGrain<IInferenceRouterGrain>(0);
        var giveUp = DateTime.UtcNow + (giveUpAfter ?? TimeSpan.FromSeconds(30));
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(async _ =>
        {
            while (!done(traffic) && DateTime.UtcNow < giveUp)
            {
                var i = Interlocked.Increment(ref next);
                var request = new InferenceRequest(model, null, [Samples.HeldOutPixels(i, shift)], User: $"user-{i % users}");
                try
                {
                    var answer = await router.InferAsync(request);
                    traffic.Answered(answer.Version);
                }
                catch (AiFleetException)
                {
                    traffic.Failed();
                }
            }
        }));
        return traffic;
    }

    /// <summary>What a drive saw: answers by version, and failures.</summary>
    public sealed class Traffic
    {
        private long _failed;

        public ConcurrentDictionary<string, long> ByVersion { get; } = new();

        public long Failures => Interlocked.Read(ref _failed);

        public long Total => ByVersion.Values.Sum() + Failures;

        public void Answered(string version) => ByVersion.AddOrUpdate(version, 1, (_, n) => n + 1);

        public void Failed() => Interlocked.Increment(ref _failed);
    }
}

/// <summary>The lifecycle classes share one host; each works on its own model.</summary>
[CollectionDefinition(Name)]
public sealed class LifecycleCollection : ICollectionFixture<LifecycleFixture>
{
    public const string Name = "lifecycle";
}
