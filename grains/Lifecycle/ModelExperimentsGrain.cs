using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// A model's measurements and experiments. Silos report every quarter second (one-way, interleaved: reports only add
/// to counters); a running experiment is tested every <see cref="LifecycleOptions.EvaluateEvery"/> and steps, promotes
/// or rolls back by setting the fleet's traffic policy. The experiments are persisted on every decision and every
/// few seconds, and a reminder re-activates the grain after the loss of its silo (so does the next report), so a
/// rollout carries on where it was. Answers for feedback and drift windows are memory only: bounded, and rebuilt
/// by traffic.
/// </summary>
internal sealed partial class ModelExperimentsGrain(
    [PersistentState("experiments", AiFleetStorage.Name)] IPersistentState<ExperimentsState> state,
    ModelRepository repository,
    DriftProfiles profiles,
    LifecycleGauges gauges,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time,
    IOptions<LifecycleOptions> options,
    ILogger<ModelExperimentsGrain> logger) : Grain, IModelExperimentsGrain, IRemindable
{
    private const int MaxKept = 20;
    private const string ReminderName = "experiment";
    private static readonly TimeSpan PersistEvery = TimeSpan.FromSeconds(3);

    private readonly Dictionary<string, VersionCounts> _live = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LabelCounts> _liveLabels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DriftWindow> _drift = new(StringComparer.Ordinal);
    private PredictionMemory _memory = null!;
    private string _model = "";
    private IGrainTimer? _timer;
    private DateTimeOffset _persistedAt;

    private LifecycleOptions Options => options.Value;

    /// <summary>The experiment that has not ended, if any.</summary>
    private Experiment? Current => state.State.Experiments is [.., { IsLive: true } last] ? last : null;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _model = this.GetPrimaryKeyString();
        if (repository.Find(_model) is null)
        {
            throw AiFleetException.ModelNotFound($"model '{_model}' is not in the repository");
        }

        _memory = new PredictionMemory(Options.PredictionCapacity, Options.PredictionTtl, time);
        _timer = this.RegisterGrainTimer(EvaluateAsync, new GrainTimerCreationOptions { DueTime = Options.EvaluateEvery, Period = Options.EvaluateEvery });
        if (Current is not null)
        {
            await this.RegisterOrUpdateReminder(ReminderName, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        gauges.Remove(_model); // the activation that takes over reports them
        return Current is not null ? state.WriteStateAsync(cancellationToken) : Task.CompletedTask;
    }

    /// <summary>Activation did the work: a reminder only has to wake the grain after its silo was lost.</summary>
    public Task ReceiveReminder(string reminderName, TickStatus status) => Task.CompletedTask;

    public Task ReportAsync(LifecycleReport report)
    {
        var current = Current is { State: ExperimentStates.Running } running ? running : null;
        foreach (var counts in report.Versions)
        {
            Of(_live, counts.Version).Add(counts);
            if (current is not null && IsArm(current, counts.Version))
            {
                Of(current.Total, counts.Version).Add(counts);
                Of(current.InStep, counts.Version).Add(counts);
            }
        }

        foreach (var counts in report.Pinned ?? [])
        {
            Of(_live, counts.Version).Add(counts); // the version's own figures only: the policy did not route these
        }

        foreach (var prediction in report.Predictions)
        {
            _memory.Add(prediction);
        }

        foreach (var input in report.Inputs)
        {
            if (!_drift.TryGetValue(input.Version, out var window))
            {
                _drift[input.Version] = window = new DriftWindow(Options.DriftWindow);
            }

            window.Add(input.Counts);
        }

        return Task.CompletedTask;
    }

    public async Task<FeedbackResult> FeedbackAsync(Feedback feedback)
    {
        var record = _memory.Take(feedback.User, feedback.RequestId, out var judged);
        for (var waited = TimeSpan.Zero; record is null && !judged && waited < Options.FeedbackWait; waited += FeedbackPoll)
        {
            await Task.Delay(FeedbackPoll); // its silo may not have reported the answer yet
            record = _memory.Take(feedback.User, feedback.RequestId, out judged);
        }

        if (record is null && judged)
        {
            throw AiFleetException.Conflict($"the answer with request id '{feedback.RequestId}' was judged already; feedback counts once", "id");
        }

        if (record is null)
        {
            throw AiFleetException.NotFound(
                $"model '{_model}' has no answer with request id '{feedback.RequestId}' for this key: unknown, or older than {Options.PredictionTtl.TotalMinutes:0} minutes",
                field: "id");
        }

        var rows = feedback.Labels?.Length ?? feedback.Scores!.Length;
        if (rows != record.Labels.Length)
        {
            _memory.Restore(record); // not judged: it can be sent again, right
            throw AiFleetException.Invalid($"the answer had {record.Labels.Length} row(s); the feedback has {rows}", feedback.Labels is null ? "scores" : "labels");
        }

        var experiment = Current is { State: ExperimentStates.Running } current && IsArm(current, record.Version) ? current : null;
        var (correct, counted, notCounted) = FeedbackCounting.Count(
            record, feedback, Of(_liveLabels, record.Version), experiment is null ? null : Of(experiment.Labels, record.Version),
            experiment is null ? 0 : FeedbackCounting.UserCap(experiment.Spec.MinLabels, Options.MaxUserLabelShare));
        PublishGauges();
        return new FeedbackResult(_model, record.Version, rows, correct, experiment?.Id, counted, notCounted);
    }

    private static readonly TimeSpan FeedbackPoll = TimeSpan.FromMilliseconds(50);

    public Task<ExperimentView?> GetAsync(string id) =>
        Task.FromResult(state.State.Experiments.FirstOrDefault(e => e.Id == id) is { } experiment ? View(experiment) : null);

    public Task<ModelLifecycleView> GetViewAsync()
    {
        var versions = _live.Keys.Union(_liveLabels.Keys).Union(_drift.Keys).Order(StringComparer.Ordinal)
            .Select(v => Arm(v, "live", null, _live.GetValueOrDefault(v), _liveLabels.GetValueOrDefault(v)))
            .ToArray();
        var experiments = state.State.Experiments.AsEnumerable().Reverse().Select(View).ToArray();
        return Task.FromResult(new ModelLifecycleView(_model, versions, experiments));
    }

    /// <summary>No experiment left to carry on after a silo loss: the reminder goes.</summary>
    private async Task ForgetReminderAsync()
    {
        if (await this.GetReminder(ReminderName) is { } reminder)
        {
            await this.UnregisterReminder(reminder);
        }
    }

    private static bool IsArm(Experiment experiment, string version) =>
        version == experiment.Spec.Candidate || version == experiment.Spec.Baseline;

    private static T Of<T>(Dictionary<string, T> map, string version)
        where T : new()
    {
        if (!map.TryGetValue(version, out var value))
        {
            map[version] = value = new T();
        }

        return value;
    }

    private static VersionCounts Of(Dictionary<string, VersionCounts> map, string version)
    {
        if (!map.TryGetValue(version, out var value))
        {
            map[version] = value = new VersionCounts { Version = version };
        }

        return value;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Experiment {Experiment}: {Action} ({Reason})")]
    private static partial void LogDecision(ILogger logger, string experiment, string action, string reason);
}
