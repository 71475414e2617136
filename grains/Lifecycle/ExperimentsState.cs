using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>A model's experiments, persisted on every decision and every few seconds while one runs.</summary>
[GenerateSerializer, Alias("aifleet.ExperimentsState")]
public sealed class ExperimentsState
{
    /// <summary>The number the next experiment gets.</summary>
    [Id(0)]
    public int Next { get; set; } = 1;

    /// <summary>Oldest first; the last is the current one when it has not ended.</summary>
    [Id(1)]
    public List<Experiment> Experiments { get; set; } = [];
}

/// <summary>One experiment: its spec, where it stands, its arms' counts (in all and in the current step) and its decisions.</summary>
[GenerateSerializer, Alias("aifleet.Experiment")]
public sealed class Experiment
{
    [Id(0)]
    public string Id { get; set; } = "";

    [Id(1)]
    public ExperimentSpec Spec { get; set; } = null!;

    [Id(2)]
    public string State { get; set; } = ExperimentStates.Running;

    /// <summary>The index of the current step in <see cref="ExperimentSpec.Steps"/>.</summary>
    [Id(3)]
    public int Step { get; set; }

    [Id(4)]
    public DateTimeOffset StartedAt { get; set; }

    [Id(5)]
    public DateTimeOffset? EndedAt { get; set; }

    [Id(6)]
    public DateTimeOffset StepStartedAt { get; set; }

    /// <summary>Counts per version since the experiment started.</summary>
    [Id(7)]
    public Dictionary<string, VersionCounts> Total { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Counts per version since the current step started.</summary>
    [Id(8)]
    public Dictionary<string, VersionCounts> InStep { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Feedback per version since the experiment started.</summary>
    [Id(9)]
    public Dictionary<string, LabelCounts> Labels { get; set; } = new(StringComparer.Ordinal);

    [Id(10)]
    public List<ExperimentDecision> Decisions { get; set; } = [];

    public bool IsLive => State is ExperimentStates.Running or ExperimentStates.Paused;

    /// <summary>The candidate's share now, in percent.</summary>
    public double SharePercent => State == ExperimentStates.Promoted ? 100 : State == ExperimentStates.RolledBack ? 0 : Spec.Steps[Step];
}

/// <summary>
/// Feedback on one version: rows labelled and right, and for scores, rows scored and their summed absolute error. In
/// an experiment's arm also the rows counted per user and the rows left out by the per-user cap (the live figures
/// leave both empty). Users are the owners of admin-issued keys, so the map grows with the user base, not with traffic.
/// </summary>
[GenerateSerializer, Alias("aifleet.LabelCounts")]
public sealed class LabelCounts
{
    [Id(0)]
    public long Labelled { get; set; }

    [Id(1)]
    public long Correct { get; set; }

    [Id(2)]
    public long Scored { get; set; }

    [Id(3)]
    public double AbsoluteError { get; set; }

    /// <summary>Rows (labelled or scored) counted per user.</summary>
    [Id(4)]
    public Dictionary<string, long> ByUser { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Rows not counted because their user had reached the cap.</summary>
    [Id(5)]
    public long OverCap { get; set; }
}
