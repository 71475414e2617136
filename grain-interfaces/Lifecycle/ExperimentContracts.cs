namespace Orleans.AiFleet.GrainInterfaces.Lifecycle;

/// <summary>The kinds of experiment a model can run.</summary>
public static class ExperimentKinds
{
    /// <summary>The candidate's share grows step by step while it is not worse; it is promoted after the last step.</summary>
    public const string Canary = "canary";

    /// <summary>A fixed sticky split; the candidate is promoted once significantly better, rolled back once significantly worse.</summary>
    public const string AB = "ab";

    /// <summary>A share of requests mirrored to the candidate, compared and discarded; users only ever see the baseline.</summary>
    public const string Shadow = "shadow";

    public static readonly IReadOnlyList<string> All = [Canary, AB, Shadow];
}

/// <summary>The states of an experiment. Only a running one makes decisions.</summary>
public static class ExperimentStates
{
    public const string Running = "running";
    public const string Paused = "paused";
    public const string Promoted = "promoted";
    public const string RolledBack = "rolled-back";

    public static bool HasEnded(string state) => state is Promoted or RolledBack;
}

/// <summary>
/// How an experiment runs. <see cref="Steps"/> are the candidate's shares in percent (a canary's steps; an A/B's
/// one share; a shadow's mirrored share). A step ends once it has lasted <see cref="DwellSeconds"/> and the
/// candidate answered <see cref="MinSamples"/> requests in it. Tests are one-sided at <see cref="Confidence"/>: the
/// candidate is rolled back when its error rate (Fisher's exact test), latency (Mann–Whitney over the latency
/// sketches, and a median more than <see cref="LatencyTolerance"/> slower) or accuracy (Fisher's exact test, once both
/// arms have <see cref="MinLabels"/> labels) is significantly worse, or when its error rate is above
/// <see cref="MaxErrorRate"/> with that confidence (the lower Wilson bound). A canary step passes when the upper
/// Wilson bound of its error rate is within <see cref="Margin"/> of the baseline's rate (non-inferiority).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ExperimentSpec")]
public sealed record ExperimentSpec(
    [property: Id(0)] string Kind,
    [property: Id(1)] string Candidate,
    [property: Id(2)] string Baseline,
    [property: Id(3)] IReadOnlyList<double> Steps,
    [property: Id(4)] int MinSamples,
    [property: Id(5)] double DwellSeconds,
    [property: Id(6)] double Confidence,
    [property: Id(7)] double MaxErrorRate,
    [property: Id(8)] double LatencyTolerance,
    [property: Id(9)] double Margin,
    [property: Id(10)] int MinLabels,
    [property: Id(11)] bool PromoteWhenBetter);

/// <summary>One decision of an experiment, with the statistics it was made on.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.ExperimentDecision")]
public sealed record ExperimentDecision(
    [property: Id(0)] DateTimeOffset At,
    [property: Id(1)] string Action,
    [property: Id(2)] string Reason,
    [property: Id(3)] IReadOnlyDictionary<string, double> Statistics);

/// <summary>
/// One version's figures in an experiment (since it started) or live (since the grain activated): requests users got
/// from it, requests mirrored to it as a shadow, errors of both and their rate over both, latency quantiles over
/// both, accuracy from feedback with its Wilson interval, mean absolute error of scores, shadow agreement, and drift.
/// In an experiment only requests the traffic policy routed count (not those that named their version), each user's
/// feedback counts up to a cap: <see cref="Labellers"/> is how many users' feedback counts in the arm and
/// <see cref="LabelsOverCap"/> the rows left out by the cap (both null in the live view, which counts everything).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ArmView")]
public sealed record ArmView(
    [property: Id(0)] string Version,
    [property: Id(1)] string Role,
    [property: Id(2)] double? SharePercent,
    [property: Id(3)] long Requests,
    [property: Id(4)] long Errors,
    [property: Id(5)] double ErrorRate,
    [property: Id(6)] double? LatencyP50Ms,
    [property: Id(7)] double? LatencyP95Ms,
    [property: Id(8)] long Labelled,
    [property: Id(9)] double? Accuracy,
    [property: Id(10)] double? AccuracyLow,
    [property: Id(11)] double? AccuracyHigh,
    [property: Id(12)] double? MeanAbsoluteError,
    [property: Id(13)] long Mirrored,
    [property: Id(14)] double? Agreement,
    [property: Id(15)] double? Psi,
    [property: Id(16)] bool Drifting,
    [property: Id(17)] int? Labellers = null,
    [property: Id(18)] long? LabelsOverCap = null);

/// <summary>An experiment as the report shows it.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.ExperimentView")]
public sealed record ExperimentView(
    [property: Id(0)] string Id,
    [property: Id(1)] string Model,
    [property: Id(2)] string State,
    [property: Id(3)] ExperimentSpec Spec,
    [property: Id(4)] int Step,
    [property: Id(5)] DateTimeOffset StartedAt,
    [property: Id(6)] DateTimeOffset? EndedAt,
    [property: Id(7)] IReadOnlyList<ArmView> Arms,
    [property: Id(8)] IReadOnlyDictionary<string, double> Tests,
    [property: Id(9)] IReadOnlyList<ExperimentDecision> Decisions);

/// <summary>Every version of a model as measured since the experiments grain activated: the live view behind metrics.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.ModelLifecycleView")]
public sealed record ModelLifecycleView(
    [property: Id(0)] string Model,
    [property: Id(1)] IReadOnlyList<ArmView> Versions,
    [property: Id(2)] IReadOnlyList<ExperimentView> Experiments);
