using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>Model lifecycle settings (experiments, feedback, drift), bound from <c>AiFleet:Lifecycle</c>.</summary>
public sealed class LifecycleOptions
{
    public const string SectionName = "AiFleet:Lifecycle";

    /// <summary>The default of <see cref="MaxUserLabelShare"/>: one user holds at most a tenth of an arm's labels.</summary>
    public const double DefaultMaxUserLabelShare = 0.1;

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

    /// <summary>
    /// The feedback rows one user can have counted in one arm of an experiment, as a share of the experiment's
    /// <c>minLabels</c> (at least one row); the rest still count for the version. See <see cref="FeedbackCounting.UserCap"/>.
    /// </summary>
    public double MaxUserLabelShare { get; set; } = DefaultMaxUserLabelShare;
}

internal sealed class LifecycleOptionsValidator : IValidateOptions<LifecycleOptions>
{
    public ValidateOptionsResult Validate(string? name, LifecycleOptions o)
    {
        var errors = new List<string>();
        var at = LifecycleOptions.SectionName;
        foreach (var (field, value) in new[] { ("ReportEvery", o.ReportEvery), ("EvaluateEvery", o.EvaluateEvery), ("PredictionTtl", o.PredictionTtl) })
        {
            if (value <= TimeSpan.Zero)
            {
                errors.Add($"{at}:{field} must be positive (was {value})");
            }
        }

        if (o.FeedbackWait < TimeSpan.Zero)
        {
            errors.Add($"{at}:FeedbackWait must not be negative (was {o.FeedbackWait})");
        }

        if (o.PredictionCapacity < 1 || o.DriftSampleEvery < 1 || o.DriftWindow < 1)
        {
            errors.Add($"{at}:PredictionCapacity, DriftSampleEvery and DriftWindow must be at least 1 (were {o.PredictionCapacity}, {o.DriftSampleEvery}, {o.DriftWindow})");
        }

        if (!(o.DriftThreshold > 0))
        {
            errors.Add($"{at}:DriftThreshold must be above 0 (was {o.DriftThreshold})");
        }

        if (o.MaxUserLabelShare is not (> 0 and <= 1))
        {
            errors.Add($"{at}:MaxUserLabelShare must be above 0 and at most 1 (was {o.MaxUserLabelShare}); {LifecycleOptions.DefaultMaxUserLabelShare} lets no user decide alone");
        }

        return errors.Count > 0 ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }
}
