using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>The autoscaler on three silos and a manual clock: the evaluation timer ticks in real time, every delay is the test's.</summary>
public sealed class ModelFleetGrainTests(ThreeSiloManualClockFixture fixture) : IClassFixture<ThreeSiloManualClockFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Fleet_LoadAboveTargetThenIdle_ScalesUpWithWarmReplicasThenBackDown()
    {
        var fleet = fixture.Client.GetGrain<IModelFleetGrain>("scaling");
        var started = Assert.Single(await fleet.EnsureStartedAsync(), r => r.Version == "2");
        Assert.True(started.Ready);
        Assert.Equal(["scaling/2/0"], (await fleet.GetRoutingTableAsync("2")).Replicas);

        // Three requests held in replica 0's queue: 3 in flight against a target of 1 per replica.
        var replica0 = fixture.Client.GetGrain<IModelReplicaGrain>("scaling/2/0");
        await replica0.InferAsync(new InferenceRequest("scaling", "2", [Samples.Pixels(0, Samples.DigitCount)])); // demand estimate 32 rows
        var held = Enumerable.Range(0, 3).Select(i => replica0.InferAsync(Samples.Digit("scaling", i))).ToArray();

        var grown = await AdvanceUntilAsync(fleet, s => s.Desired > 1, "the fleet to scale up");
        var up = Assert.Single((await fleet.GetStatusAsync()).RecentEvents);
        Assert.Equal(("2", 1, 3), (up.Version, up.From, up.To)); // ceil(3 in flight / target 1) = 3, within max 3
        Assert.Contains("above target 1 for 1000 ms", up.Reason);
        Assert.Equal(["scaling/2/0", "scaling/2/1", "scaling/2/2"], grown.InRotation);
        var silos = new HashSet<string>();
        foreach (var key in grown.InRotation)
        {
            var replica = await fixture.Client.GetGrain<IModelReplicaGrain>(key).GetStatusAsync();
            Assert.True(replica.Ready, $"{key} in rotation before warm-up");
            silos.Add(replica.Silo);
        }

        Assert.Equal(3, silos.Count); // the added replicas went to the other silos

        fixture.Time.Advance(TimeSpan.FromSeconds(60)); // the held batch comes due
        Assert.All(await Task.WhenAll(held).WaitAsync(Deadline), r => Assert.Equal([1L, 10L], r.Outputs[0].Shape));

        var shrunk = await AdvanceUntilAsync(fleet, s => s.Desired == 1, "the idle fleet to scale back down");
        Assert.Equal(["scaling/2/0"], shrunk.InRotation);
        var events = (await fleet.GetStatusAsync()).RecentEvents;
        Assert.Equal([(1, 3), (3, 2), (2, 1)], events.Select(e => (e.From, e.To)));
        Assert.All(events.Skip(1), e => Assert.Contains("below half of target 1 for 5000 ms", e.Reason));
    }

    /// <summary>Moves the manual clock in 250 ms steps while the fleet's real-time evaluation catches up.</summary>
    private async Task<FleetVersionStatus> AdvanceUntilAsync(IModelFleetGrain fleet, Func<FleetVersionStatus, bool> condition, string what)
    {
        var giveUp = DateTime.UtcNow + Deadline;
        while (true)
        {
            var status = (await fleet.GetStatusAsync()).Versions.Single(v => v.Version == "2");
            if (condition(status))
            {
                return status;
            }

            Assert.True(DateTime.UtcNow < giveUp, $"waited {Deadline.TotalSeconds} s for {what}; desired {status.Desired}");
            fixture.Time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(100);
        }
    }
}
