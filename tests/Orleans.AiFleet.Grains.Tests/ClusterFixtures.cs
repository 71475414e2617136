using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Replicas;
using Orleans.AiFleet.Grains.Models;
using Orleans.TestingHost;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>An in-process cluster (one silo unless told) on a model repository, configured by the product's own silo extension.</summary>
public abstract class ClusterFixtureBase : IAsyncLifetime
{
    private readonly string _repository;
    private readonly TimeProvider? _clock;
    private readonly short _silos;

    protected ClusterFixtureBase(string repository, TimeProvider? clock, short silos = 1)
    {
        _repository = repository;
        _clock = clock;
        _silos = silos;
    }

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IClusterClient Client => Cluster.Client;

    internal OnnxSessionCache Sessions => Silo.GetRequiredService<OnnxSessionCache>();

    /// <summary>The first silo's meter factory: a <c>MetricCollector</c> on it sees that silo's measurements only.</summary>
    public System.Diagnostics.Metrics.IMeterFactory SiloMeters => Silo.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();

    private IServiceProvider Silo => Cluster.Silos[0].ServiceProvider;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(_silos);
        builder.ConfigureSilo((_, silo) =>
        {
            if (_clock is not null)
            {
                silo.Services.AddKeyedSingleton(AiFleetServiceKeys.Clock, _clock);
            }

            silo.AddAiFleet().UseAiFleetInMemoryState();
            silo.Services.Configure<ModelRepositoryOptions>(o => o.Path = _repository);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        if (_silos > 1)
        {
            await Cluster.WaitForLivenessToStabilizeAsync();
        }
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>The shipped models on the system clock.</summary>
public sealed class ClusterFixture() : ClusterFixtureBase(TestRepository.Shipped, clock: null);

/// <summary>
/// Variants of the shipped digits model on a manual clock, so batching deadlines and request timeouts move only
/// when a test advances time:
/// <list type="bullet">
/// <item><c>small-queue</c>: at most 4 queued requests, batches of up to 64, a 1 s batching delay;</item>
/// <item><c>short-timeout</c>: a 2 s request timeout and a 5 s batching delay (the timeout fires first);</item>
/// <item><c>batching</c>: batches of up to 64 with a 1 s delay;</item>
/// <item><c>unload</c>: as shipped, for load and unload;</item>
/// <item><c>lanes</c>: one replica, 8 queued at most (so 2 in the low lane), a 5 s batching delay, a 60 s request
/// timeout but 2 s in the low lane; the shipped routing.json (free users' lane is low, premium's high).</item>
/// </list>
/// </summary>
public sealed class ManualClockClusterFixture : ClusterFixtureBase
{
    public ManualClockClusterFixture()
        : this(new FakeTimeProvider(DateTimeOffset.Parse("2026-11-23T00:00:00Z")))
    {
    }

    private ManualClockClusterFixture(FakeTimeProvider clock)
        : base(Repository, clock) => Time = clock;

    private static readonly string Repository = TestRepository.Create("digits",
        ("small-queue", c => { c["maxQueueLength"] = 4; c["maxBatchSize"] = 64; c["maxQueueDelayMs"] = 1000; }),
        ("short-timeout", c => { c["requestTimeoutMs"] = 2000; c["maxBatchSize"] = 64; c["maxQueueDelayMs"] = 5000; }),
        ("batching", c => { c["maxBatchSize"] = 64; c["maxQueueDelayMs"] = 1000; }),
        ("unload", c => { }),
        ("lanes", c =>
        {
            c["maxQueueLength"] = 8; // the low lane: a quarter, 2
            c["maxBatchSize"] = 64;
            c["maxQueueDelayMs"] = 5000;
            c["requestTimeoutMs"] = 60000;
            c["replicas"] = new JsonObject { ["minReplicas"] = 1, ["maxReplicas"] = 1 };
            c["lanes"] = new JsonObject { ["low"] = new JsonObject { ["requestTimeoutMs"] = 2000 } };
        })).WithShippedRouting();

    public FakeTimeProvider Time { get; }
}

/// <summary>
/// The shipped MiniLM-shaped <c>sentence-encoder</c> as <c>lanes-order</c>: one replica, batches of up to 4 rows, so
/// that a long batch is running while a test queues requests behind it; the lanes' default shares (16:4:1).
/// </summary>
public sealed class SentenceEncoderLanesFixture() : ClusterFixtureBase(Repository, clock: null)
{
    private static readonly string Repository = TestRepository.Create("sentence-encoder",
        ("lanes-order", c =>
        {
            c["maxBatchSize"] = 4;
            c["replicas"] = new JsonObject { ["minReplicas"] = 1, ["maxReplicas"] = 1 };
        }));
}

/// <summary>
/// Three silos on a manual clock serving <c>scaling</c>, a digits variant with 1 to 3 replicas, target 1 in flight
/// each, up after 1 s and down after 5 s; a 60 s batching delay holds requests in the queue until the test moves
/// the clock.
/// </summary>
public sealed class ThreeSiloManualClockFixture : ClusterFixtureBase
{
    public ThreeSiloManualClockFixture()
        : this(new FakeTimeProvider(DateTimeOffset.Parse("2026-11-24T00:00:00Z")))
    {
    }

    private ThreeSiloManualClockFixture(FakeTimeProvider clock)
        : base(Repository, clock, silos: 3) => Time = clock;

    private static readonly string Repository = TestRepository.Create("digits",
        ("scaling", c =>
        {
            c["maxBatchSize"] = 64;
            c["maxQueueDelayMs"] = 60_000;
            c["requestTimeoutMs"] = 600_000;
            c["replicas"] = new JsonObject
            {
                ["minReplicas"] = 1, ["maxReplicas"] = 3, ["targetInFlightPerReplica"] = 1,
                ["upscaleDelayMs"] = 1000, ["downscaleDelayMs"] = 5000,
            };
        }));

    public FakeTimeProvider Time { get; }
}
