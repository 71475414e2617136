using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>
/// One course generation. Steps run in order — validate, reserve the whole estimate on the user's budget, outline,
/// lessons (fanned out, a few at a time, through the cost-aware router), create the course record, settle — and the
/// saga's state is written after every step and every lesson, so a resumed saga starts at the first unfinished step
/// and never pays twice for a finished one. Model calls are prepaid: they run against the saga's one reservation,
/// which is settled at what the steps cost. A reminder wakes the saga if its silo dies; so does any call to it.
/// A cancel or a permanent failure runs compensation in reverse: the course and its list entry are deleted, the model
/// calls that finished are charged (the work was done) and the rest of the reservation released. Reentrant, so status, events and cancel are answered while steps run. Placed at
/// random, so long-running sagas spread over the silos rather than gather where they were started.
/// </summary>
[Reentrant]
[RandomPlacement]
internal sealed partial class CourseGenerationGrain(
    [PersistentState("saga", AiFleetStorage.Name)] IPersistentState<SagaState> state,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time,
    ILocalSiloDetails silo,
    Microsoft.Extensions.Options.IOptions<CourseOptions> options,
    SagaMetrics metrics,
    ILogger<CourseGenerationGrain> logger) : Grain, ICourseGenerationGrain, IRemindable
{
    private const string ResumeReminder = "resume";

    private const string ExpireReminder = "expire";

    /// <summary>Orleans' shortest reminder period (its default <c>ReminderOptions.MinimumReminderPeriod</c>).</summary>
    private static readonly TimeSpan MinimumReminderPeriod = TimeSpan.FromMinutes(1);

    /// <summary>Lessons generated at once by one saga.</summary>
    public const int LessonParallelism = 3;

    /// <summary>How long the saga's budget hold lasts; a crashed saga's hold is released by then at the latest.</summary>
    public static readonly TimeSpan HoldFor = TimeSpan.FromHours(1);

    /// <summary>How often a running step renews the saga's hold to <see cref="HoldFor"/>.</summary>
    private static readonly TimeSpan RenewEvery = TimeSpan.FromMinutes(5);

    private SagaJournal? _journal;

    private CancellationTokenSource _cancel = new();

    private Task? _run;

    /// <summary>The admission under way, so a concurrent start of the same saga waits for it rather than holding twice.</summary>
    private Task? _admitting;

    private SagaState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Request is not null && !SagaStates.IsTerminal(S.State))
        {
            // A saga that was running when its activation ended (its silo died, say) goes on from its last step.
            S.Resumes++;
            Record(S.Step, "resumed", $"resumed at step '{S.Step}' on silo {silo.SiloAddress}");
            EnsureRunning();
        }

        return Task.CompletedTask;
    }

    public async Task<SagaStatus> StartAsync(string user, string? userTier, CourseRequest request, string? team = null)
    {
        if (_admitting is { } pending)
        {
            await pending; // the same saga started twice at once: one admission, one hold
        }
        else if (S.Request is null)
        {
            var admitting = AdmitAsync(user, userTier, team, request);
            _admitting = admitting;
            try
            {
                await admitting;
            }
            finally
            {
                _admitting = null;
            }
        }

        return Status();
    }

    public async Task<SagaStatus?> CancelAsync()
    {
        if (S.Request is null)
        {
            return Unknown<SagaStatus>();
        }

        if (!SagaStates.IsTerminal(S.State) && !S.CancelRequested)
        {
            S.CancelRequested = true;
            Record(S.Step, "cancel_requested", "cancel requested");
            await SaveAsync();
            await _cancel.CancelAsync();
            EnsureRunning();
        }

        return Status();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName == ExpireReminder)
        {
            await ExpireAsync();
            return;
        }

        if (S.Request is not null && !SagaStates.IsTerminal(S.State))
        {
            EnsureRunning();
        }
        else
        {
            await ForgetReminderAsync(ResumeReminder);
        }
    }

    private void EnsureRunning()
    {
        if (_run is null || _run.IsCompleted)
        {
            _run = RunAsync();
        }
    }

    private async Task RunAsync()
    {
        while (!SagaStates.IsTerminal(S.State))
        {
            this.DelayDeactivation(TimeSpan.FromMinutes(10));
            if (S.CancelRequested && S.State == SagaStates.Running)
            {
                await BeginCompensationAsync(SagaStates.Cancelled, "cancelled by the user");
                continue;
            }

            var step = S.State == SagaStates.Compensating ? SagaSteps.Compensate : S.Step; // S.Step stays where the saga stopped
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                await RunStepAsync();
                metrics.StepEnded(step, "ok", started);
            }
            catch (OperationCanceledException) when (S.CancelRequested)
            {
                metrics.StepEnded(step, "cancelled", started); // the loop turns to compensation
            }
            catch (Exception e) when (S.State == SagaStates.Running && IsPermanent(e))
            {
                metrics.StepEnded(step, "failed", started);
                LogFailed(logger, e, this.GetPrimaryKeyString(), S.Step);
                await BeginCompensationAsync(SagaStates.Failed, $"step '{S.Step}' failed: {e.Message}");
            }
            catch (Exception e)
            {
                // The cluster itself is failing (a silo going down, storage unreachable): wait and try the step again;
                // the reminder restarts the loop if this activation dies meanwhile.
                metrics.StepEnded(step, "retried", started);
                LogRetrying(logger, e, this.GetPrimaryKeyString(), S.Step);
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }

        await ForgetReminderAsync(ResumeReminder);
        if (S.State is SagaStates.Failed or SagaStates.Cancelled)
        {
            // Kept a while for its owner to read why, then deleted (the period only matters if the first tick is missed).
            var keep = options.Value.KeepEndedFor;
            await this.RegisterOrUpdateReminder(ExpireReminder, keep, keep < MinimumReminderPeriod ? MinimumReminderPeriod : keep);
        }
    }

    /// <summary>The saga's current step, or a compensation pass while it is compensating.</summary>
    private async Task RunStepAsync()
    {
        if (S.State == SagaStates.Compensating)
        {
            await CompensateAsync();
            return;
        }

        // The hold is kept open while a step runs, however long the steps take (and after a resume).
        await using var renewal = S.Reservation == Guid.Empty ? null : Hold.KeepOpen(RenewEvery, HoldFor, time);
        using var span = Hosting.AiFleetTracing.Source.StartActivity($"saga.{S.Step}");
        span?.SetTag("aifleet.saga", this.GetPrimaryKeyString());
        switch (S.Step)
        {
            case SagaSteps.Validate: await ValidateAsync(); break;
            case SagaSteps.Reserve: await ReserveAsync(); break;
            case SagaSteps.Outline: await OutlineAsync(); break;
            case SagaSteps.Lessons: await LessonsAsync(); break;
            case SagaSteps.CreateCourse: await CreateCourseAsync(); break;
            case SagaSteps.Settle: await SettleAsync(); break;
            default: throw new InvalidOperationException($"unknown step '{S.Step}'");
        }
    }

    private async Task AdvanceAsync(string next, string kind, string message)
    {
        S.Step = next;
        Record(next, kind, message);
        await SaveAsync();
    }

    /// <summary>The saga's record: its events, its writes, its watchers; each write is reported one-way to the console's list of jobs.</summary>
    private SagaJournal Journal => _journal ??= new SagaJournal(state, time, Status, s => GrainFactory.GetGrain<ISagaIndexGrain>(0).RecordAsync(s));

    private void Record(string step, string kind, string message) => Journal.Record(step, kind, message);

    private Task SaveAsync() => Journal.SaveAsync();

    private SagaStatus Status() => new(
        this.GetPrimaryKeyString(), S.User ?? "", S.State, S.Step, S.Lessons.Count, S.Request?.Lessons ?? 0, S.Spend, S.Reserved,
        S.Error, S.State == SagaStates.Succeeded ? S.CourseId : null, S.CreatedAt, S.UpdatedAt, S.Request!, S.Resumes, silo.SiloAddress.ToString(), S.Charged);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Course saga {Saga} failed at step {Step}; compensating")]
    private static partial void LogFailed(ILogger logger, Exception error, string saga, string step);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Course saga {Saga} could not finish step {Step}; trying again")]
    private static partial void LogRetrying(ILogger logger, Exception error, string saga, string step);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Course saga {Saga} could not remove its reminder")]
    private static partial void LogReminder(ILogger logger, Exception error, string saga);
}
