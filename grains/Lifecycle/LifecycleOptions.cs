namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>Model lifecycle settings (experiments, feedback, drift), bound from <c>AiFleet:Lifecycle</c>.</summary>
public sealed class LifecycleOptions
{
    public const string SectionName = "AiFleet:Lifecycle";

    /// <summary>How often each silo sends what its routers and replicas saw to the models' experiment grains.</summary>
    public TimeSpan ReportEvery { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often a running experiment tests its arms and may step, promote or roll back.</summary>
    public TimeSpan EvaluateEvery { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Answers remembered per model for feedback; the oldest go first.</summary>
    public int PredictionCapacity { get; set; } = 100_000;

    /// <summary>How long an answer can be judged by feedback.</summary>
    public TimeSpan PredictionTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long feedback waits for an answer its silo has not reported yet.</summary>
    public TimeSpan FeedbackWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Every how many requests a replica samples one for the drift histograms.</summary>
    public int DriftSampleEvery { get; set; } = 4;

    /// <summary>Past this population stability index on any feature a version is marked drifting (0.2: a major shift).</summary>
    public double DriftThreshold { get; set; } = 0.2;

    /// <summary>Live samples a version needs before its PSI is reported; the window PSI reads holds twice this.</summary>
    public int DriftWindow { get; set; } = 500;
}
