using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Tests.Lifecycle;

/// <summary>A rollout's per-arm gauges on the silo running its experiments grain, and gone when that grain deactivates.</summary>
public sealed class LifecycleGaugesTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task RolloutArms_AreReportedWhileTheExperimentsGrainRuns_AndNotAfterItDeactivates()
    {
        using var shares = new MetricCollector<double>(fixture.SiloMeters, InferenceMetrics.MeterName, "aifleet.rollout.share_percent");
        var experiments = fixture.Client.GetGrain<IModelExperimentsGrain>("digits");
        var started = await experiments.StartAsync(new ExperimentSpec(
            ExperimentKinds.Canary, "1", "2", [5, 100], MinSamples: 1_000_000, DwellSeconds: 0, Confidence: 0.99, MaxErrorRate: 0.05,
            LatencyTolerance: 1, Margin: 0.02, MinLabels: 50, PromoteWhenBetter: true));

        IReadOnlyList<(string? Role, double Share)> Arms()
        {
            shares.RecordObservableInstruments();
            return shares.GetMeasurementSnapshot(clear: true)
                .Where(m => Equals(m.Tags["model"], "digits") && Equals(m.Tags["experiment"], started.Id))
                .Select(m => (m.Tags["role"] as string, m.Value)).OrderBy(a => a.Item1, StringComparer.Ordinal).ToArray();
        }

        var giveUp = DateTime.UtcNow.AddSeconds(20);
        while (Arms() is var arms && !arms.SequenceEqual([("baseline", 95.0), ("candidate", 5.0)]))
        {
            Assert.True(DateTime.UtcNow < giveUp, $"the canary's arms were not reported within 20 s: {string.Join(", ", arms)}");
            await Task.Delay(200);
        }

        // Idle grains deactivate (the experiment stays saved and a reminder brings it back): this silo stops reporting it.
        await fixture.Client.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        Assert.Empty(Arms());
    }
}
