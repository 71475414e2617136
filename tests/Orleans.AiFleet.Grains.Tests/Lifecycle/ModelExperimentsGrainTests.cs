using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Tests.Lifecycle;

/// <summary>
/// What an experiment counts: only requests the traffic policy routed (a request that named its version counts for the
/// version alone), and from each user's feedback no more rows per arm than the cap (10 % of minLabels by default).
/// </summary>
public sealed class ModelExperimentsGrainTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task ReportAsync_PinnedRequestsAndTheirFeedback_CountForTheVersionButNotInTheArms()
    {
        var (experiments, id) = await StartAsync();
        var labelledBefore = Live(await experiments.GetViewAsync(), "1")?.Labelled ?? 0;

        await experiments.ReportAsync(new LifecycleReport("silo", [Counts("1", 10)], [Answer("mallory", "routed", [3]), Answer("mallory", "pinned", [3], pinned: true)], [],
            Pinned: [Counts("1", 50), Counts("2", 50)]));
        var pinned = await experiments.FeedbackAsync(new Feedback("mallory", "pinned", [3], null)); // waits for the report
        var routed = await experiments.FeedbackAsync(new Feedback("mallory", "routed", [3], null));

        var arms = (await experiments.GetAsync(id))!.Arms.ToDictionary(a => a.Version);
        Assert.Equal((10L, 1L, 1), (arms["1"].Requests, arms["1"].Labelled, arms["1"].Labellers));
        Assert.Equal((0L, 0L, 0), (arms["2"].Requests, arms["2"].Labelled, arms["2"].Labellers));
        Assert.Equal(new FeedbackResult("digits", "1", 1, 1, id, 0, FeedbackExclusions.Pinned), pinned);
        Assert.Equal(new FeedbackResult("digits", "1", 1, 1, id, 1, null), routed);
        var view = await experiments.GetViewAsync();
        Assert.Equal((60L, labelledBefore + 2), (Live(view, "1")!.Requests, Live(view, "1")!.Labelled));
        Assert.Equal(50L, Live(view, "2")!.Requests);
        await experiments.ActAsync(id, "rollback");
    }

    [Fact]
    public async Task FeedbackAsync_RowsPastTheUsersCap_AreNotCountedInTheArm_RowByRow()
    {
        var (experiments, id) = await StartAsync(); // minLabels 50: 5 rows a user an arm
        var labelledBefore = Live(await experiments.GetViewAsync(), "1")?.Labelled ?? 0;

        // Every answer predicts class 3 on every row; mallory's labels on answers a and b are right on rows 0, 2, 4 and 6.
        int[] labels = [3, 0, 3, 0, 3, 0, 3, 0];
        await experiments.ReportAsync(new LifecycleReport("silo", [],
            [Answer("mallory", "a", [3, 3, 3]), Answer("mallory", "b", [3, 3, 3, 3, 3]), Answer("mallory", "c", [3]), Answer("trent", "d", [3, 3])], []));
        var a = await experiments.FeedbackAsync(new Feedback("mallory", "a", labels[..3], null));
        var b = await experiments.FeedbackAsync(new Feedback("mallory", "b", labels[3..], null));
        var c = await experiments.FeedbackAsync(new Feedback("mallory", "c", [3], null));
        var d = await experiments.FeedbackAsync(new Feedback("trent", "d", [3, 0], null));

        var candidate = (await experiments.GetAsync(id))!.Arms.Single(arm => arm.Version == "1");
        // Counted: mallory's rows 0-4 (3 right) and trent's 2 rows (1 right); left out: her rows 5-7 and answer c.
        Assert.Equal((7L, 0.5714, 2, 4L), (candidate.Labelled, candidate.Accuracy, candidate.Labellers, candidate.LabelsOverCap));
        Assert.Equal([(3, null), (2, FeedbackExclusions.UserCap), (0, FeedbackExclusions.UserCap), (2, null)],
            new[] { a, b, c, d }.Select(r => (r.CountedInExperiment, r.NotCountedBecause)));
        Assert.Equal([2, 2, 1, 1], new[] { a, b, c, d }.Select(r => r.Correct)); // judged in full for the version all the same
        Assert.Equal(labelledBefore + 11, Live(await experiments.GetViewAsync(), "1")!.Labelled);
        await experiments.ActAsync(id, "rollback");
    }

    /// <summary>An A/B of version 1 against 2 on digits (one that a failed test left running is rolled back first).</summary>
    private async Task<(IModelExperimentsGrain Experiments, string Id)> StartAsync()
    {
        var experiments = fixture.Client.GetGrain<IModelExperimentsGrain>("digits");
        foreach (var left in (await experiments.GetViewAsync()).Experiments.Where(e => !ExperimentStates.HasEnded(e.State)))
        {
            await experiments.ActAsync(left.Id, "rollback");
        }

        var started = await experiments.StartAsync(new ExperimentSpec(
            ExperimentKinds.AB, "1", "2", [50], MinSamples: 1_000_000, DwellSeconds: 0, Confidence: 0.99, MaxErrorRate: 0.05,
            LatencyTolerance: 1, Margin: 0.02, MinLabels: 50, PromoteWhenBetter: true));
        return (experiments, started.Id);
    }

    private static VersionCounts Counts(string version, long requests) => new() { Version = version, Requests = requests };

    private static PredictionRecord Answer(string user, string id, int[] labels, bool pinned = false) =>
        new(user, id, "1", labels, new float[labels.Length], pinned);

    private static ArmView? Live(ModelLifecycleView view, string version) => view.Versions.FirstOrDefault(v => v.Version == version);
}
