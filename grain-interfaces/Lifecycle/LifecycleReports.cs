namespace Orleans.AiFleet.GrainInterfaces.Lifecycle;

/// <summary>
/// What one version did on one silo since that silo's last report: requests users sent it and how many failed,
/// their latency, and the requests mirrored to it as a shadow (failed, compared with the answer the user got, and
/// agreeing with it).
/// </summary>
[GenerateSerializer, Alias("aifleet.VersionCounts")]
public sealed class VersionCounts
{
    [Id(0)]
    public string Version { get; set; } = "";

    [Id(1)]
    public long Requests { get; set; }

    [Id(2)]
    public long Errors { get; set; }

    [Id(3)]
    public LatencySketch Latency { get; set; } = new();

    [Id(4)]
    public long Mirrored { get; set; }

    [Id(5)]
    public long MirrorErrors { get; set; }

    [Id(6)]
    public long Compared { get; set; }

    [Id(7)]
    public long Agreed { get; set; }

    /// <summary>Adds another report's counts (same version) to these.</summary>
    public void Add(VersionCounts other)
    {
        Requests += other.Requests;
        Errors += other.Errors;
        Latency.Merge(other.Latency);
        Mirrored += other.Mirrored;
        MirrorErrors += other.MirrorErrors;
        Compared += other.Compared;
        Agreed += other.Agreed;
    }

    public VersionCounts Copy()
    {
        var copy = new VersionCounts { Version = Version };
        copy.Add(this);
        return copy;
    }
}

/// <summary>
/// An answer a user got, remembered for feedback: per row, the predicted class (the arg-max of the model's first
/// output) and the first output's first value (a score, for models that return one number). <see cref="Pinned"/>: the
/// request named its version, so the traffic policy did not route it (feedback on it never counts in an experiment).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.PredictionRecord")]
public sealed record PredictionRecord(
    [property: Id(0)] string User,
    [property: Id(1)] string RequestId,
    [property: Id(2)] string Version,
    [property: Id(3)] int[] Labels,
    [property: Id(4)] float[] Scores,
    [property: Id(5)] bool Pinned = false);

/// <summary>
/// Sampled live inputs of one version on one silo, binned on the edges of the version's reference profile: counts
/// per feature (in profile order) per bin.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.InputCounts")]
public sealed record InputCounts(
    [property: Id(0)] string Version,
    [property: Id(1)] long[][] Counts);

/// <summary>
/// One silo's report on one model: per-version counts of the requests the traffic policy routed (<see cref="Versions"/>)
/// and of those that named their version (<see cref="Pinned"/>: they count for the version, never in an experiment's
/// arms; null from a silo of an earlier release), answers to remember, sampled inputs.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.LifecycleReport")]
public sealed record LifecycleReport(
    [property: Id(0)] string Silo,
    [property: Id(1)] IReadOnlyList<VersionCounts> Versions,
    [property: Id(2)] IReadOnlyList<PredictionRecord> Predictions,
    [property: Id(3)] IReadOnlyList<InputCounts> Inputs,
    [property: Id(4)] IReadOnlyList<VersionCounts>? Pinned = null);

/// <summary>The truth about one earlier answer: a class per row (<see cref="Labels"/>) or a number per row (<see cref="Scores"/>).</summary>
[GenerateSerializer, Immutable, Alias("aifleet.Feedback")]
public sealed record Feedback(
    [property: Id(0)] string User,
    [property: Id(1)] string RequestId,
    [property: Id(2)] int[]? Labels,
    [property: Id(3)] double[]? Scores);

/// <summary>
/// What feedback was matched to: the version that answered, rows judged, and how many it got right (all of them count
/// for the version). When that version is an arm of the model's running experiment: the experiment, the rows counted in
/// its arm, and why the others were not (<see cref="FeedbackExclusions"/>; null when all were).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.FeedbackResult")]
public sealed record FeedbackResult(
    [property: Id(0)] string Model,
    [property: Id(1)] string Version,
    [property: Id(2)] int Rows,
    [property: Id(3)] int Correct,
    [property: Id(4)] string? Experiment = null,
    [property: Id(5)] int CountedInExperiment = 0,
    [property: Id(6)] string? NotCountedBecause = null);

/// <summary>Why feedback rows do not count in an experiment's arm, though they count for the version.</summary>
public static class FeedbackExclusions
{
    /// <summary>The request named its version: the traffic policy did not route it, so it is no sample of the arm.</summary>
    public const string Pinned = "pinned";

    /// <summary>The user's rows in this arm reached the per-user cap (<c>AiFleet:Lifecycle:MaxUserLabelShare</c> of <c>minLabels</c>).</summary>
    public const string UserCap = "user-cap";
}
