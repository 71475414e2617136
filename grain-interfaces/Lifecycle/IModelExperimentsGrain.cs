using Orleans.Concurrency;

namespace Orleans.AiFleet.GrainInterfaces.Lifecycle;

/// <summary>
/// One per model (keyed by its name): gathers what routers and replicas report about each version (requests,
/// errors, latency, answers for feedback, sampled inputs), runs the model's experiments (canary, A/B, shadow) by
/// changing the fleet's traffic policy, and keeps their decisions. Experiment ids are <c>model-n</c>.
/// </summary>
[Alias("aifleet.IModelExperimentsGrain")]
public interface IModelExperimentsGrain : IGrainWithStringKey
{
    /// <summary>A silo's periodic report on this model's versions; never waits for anything.</summary>
    [Alias("Report"), OneWay, AlwaysInterleave]
    Task ReportAsync(LifecycleReport report);

    /// <summary>
    /// Judges an earlier answer against the truth. An id not seen yet is waited for briefly (reports arrive every few
    /// hundred milliseconds); an unknown or expired one is a not-found failure, one judged already a conflict.
    /// </summary>
    [Alias("Feedback"), AlwaysInterleave]
    Task<FeedbackResult> FeedbackAsync(Feedback feedback);

    /// <summary>Starts an experiment; a conflict while another one of this model has not ended.</summary>
    [Alias("Start")]
    Task<ExperimentView> StartAsync(ExperimentSpec spec);

    /// <summary>Applies an operator's action to an experiment: <c>pause</c>, <c>resume</c>, <c>promote</c> or <c>rollback</c>.</summary>
    [Alias("Act")]
    Task<ExperimentView> ActAsync(string id, string action);

    /// <summary>One experiment, or null when this model has none of that id.</summary>
    [Alias("Get"), AlwaysInterleave]
    Task<ExperimentView?> GetAsync(string id);

    /// <summary>Every version's live figures and the model's experiments, newest first.</summary>
    [Alias("GetView"), AlwaysInterleave]
    Task<ModelLifecycleView> GetViewAsync();
}

/// <summary>Experiment ids: the model's name, a dash, and the model's experiment number.</summary>
public static class ExperimentId
{
    public static string Format(string model, int number) => $"{model}-{number}";

    /// <summary>The model an id belongs to; false when the id is not of the form model-n.</summary>
    public static bool TryParse(string id, out string model)
    {
        var dash = id.LastIndexOf('-');
        model = dash > 0 ? id[..dash] : "";
        return dash > 0 && int.TryParse(id.AsSpan(dash + 1), out var n) && n > 0;
    }
}
