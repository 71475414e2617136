using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.GrainInterfaces.Inference;
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

    private readonly SemaphoreSlim _writes = new(1, 1);

    private CancellationTokenSource _cancel = new();

    private Task? _run;

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

    public async Task<SagaStatus> StartAsync(string user, string? userTier, CourseRequest request)
    {
        if (S.Request is not null)
        {
            return Status();
        }

        if (request.Validate() is { Count: > 0 } errors)
        {
            throw AiFleetException.Invalid(string.Join("; ", errors));
        }

        var now = time.GetUtcNow();
        (S.User, S.UserTier, S.Request, S.State, S.Step, S.CreatedAt) = (user, userTier, request, SagaStates.Running, SagaSteps.Validate, now);
        Record(SagaSteps.Validate, "started", $"course on '{request.Subject}' ({request.Lessons} lessons) accepted");
        await SaveAsync();
        await this.RegisterOrUpdateReminder(ResumeReminder, options.Value.ResumeEvery, options.Value.ResumeEvery);
        EnsureRunning();
        return Status();
    }

    public Task<SagaStatus?> GetStatusAsync() => Task.FromResult(S.Request is null ? null : Status());

    public Task<IReadOnlyList<SagaEvent>> GetEventsAsync(long after) =>
        Task.FromResult<IReadOnlyList<SagaEvent>>(S.Events.Where(e => e.Seq > after).ToArray());

    public async IAsyncEnumerable<SagaProgress> WatchAsync(long after, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var changed = _changed.Task; // taken before reading, so nothing recorded in between is missed
            foreach (var e in S.Events.Where(e => e.Seq > after).ToArray())
            {
                after = e.Seq;
                yield return new SagaProgress(e, null);
            }

            if (S.Request is null || SagaStates.IsTerminal(S.State))
            {
                yield return new SagaProgress(null, S.Request is null ? null : Status());
                yield break;
            }

            await changed.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Wakes the watchers: something was recorded or saved.</summary>
    private void Changed() => Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<SagaStatus?> CancelAsync()
    {
        if (S.Request is null)
        {
            return null;
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

            try
            {
                if (S.State == SagaStates.Compensating)
                {
                    await CompensateAsync();
                    continue;
                }

                // The hold is kept open while a step runs, however long the steps take (and after a resume).
                await using var renewal = S.Reservation == Guid.Empty ? null : HoldRenewal.Start(Budget, S.Reservation, RenewEvery, HoldFor, time);
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
            catch (OperationCanceledException) when (S.CancelRequested)
            {
                // The loop turns to compensation.
            }
            catch (Exception e) when (S.State == SagaStates.Running && IsPermanent(e))
            {
                LogFailed(logger, e, this.GetPrimaryKeyString(), S.Step);
                await BeginCompensationAsync(SagaStates.Failed, $"step '{S.Step}' failed: {e.Message}");
            }
            catch (Exception e)
            {
                // The cluster itself is failing (a silo going down, storage unreachable): wait and try the step again;
                // the reminder restarts the loop if this activation dies meanwhile.
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

    private IInferenceRouterGrain Router => GrainFactory.GetGrain<IInferenceRouterGrain>(0);

    private IUserBudgetGrain Budget => GrainFactory.GetGrain<IUserBudgetGrain>(S.User!);

    private async Task ValidateAsync()
    {
        var r = S.Request!;
        var longest = Enumerable.Range(0, r.Lessons).Select(LessonPrompt).Append(OutlinePrompt()).MaxBy(p => p.Length)!;
        var perCall = await Router.EstimateChatAsync(Chat(longest, r.LessonTokens, 0));
        var estimate = Money.Ceiling(perCall * (r.Lessons + 1));
        if (r.BudgetCeiling is { } ceiling && estimate > ceiling)
        {
            throw AiFleetException.Invalid(string.Create(CultureInfo.InvariantCulture,
                $"the course may cost up to ${estimate} ({r.Lessons + 1} model calls at ${perCall} each), more than its budget ceiling ${ceiling}"));
        }

        S.Reserved = estimate;
        await AdvanceAsync(SagaSteps.Reserve, "validated", string.Create(CultureInfo.InvariantCulture, $"request valid; the course may cost up to ${estimate}"));
    }

    private async Task ReserveAsync()
    {
        var r = S.Request!;
        var hold = await Budget.ReserveAsync(new ReserveRequest("course-generation", S.Reserved, (r.Lessons + 1) * r.LessonTokens, HoldFor));
        if (!hold.Granted)
        {
            throw AiFleetException.OverBudget(hold.RefusedBy!, hold.Message!, hold.RetryAfter);
        }

        S.Reservation = hold.ReservationId;
        await AdvanceAsync(SagaSteps.Outline, "reserved", string.Create(CultureInfo.InvariantCulture, $"${S.Reserved} held on the budget of '{S.User}'"));
    }

    private async Task OutlineAsync()
    {
        var answer = await CallAsync(OutlinePrompt(), S.Request!.LessonTokens, 0);
        S.Outline = answer.Text;
        Charge(answer);
        await AdvanceAsync(SagaSteps.Lessons, "outline", $"outline written by {answer.Model}");
    }

    private async Task LessonsAsync()
    {
        var r = S.Request!;
        using var slots = new SemaphoreSlim(LessonParallelism);
        var pending = Enumerable.Range(0, r.Lessons).Where(i => !S.Lessons.ContainsKey(i)).ToArray();
        await Task.WhenAll(pending.Select(async index =>
        {
            await slots.WaitAsync(_cancel.Token);
            try
            {
                var answer = await CallAsync(LessonPrompt(index), r.LessonTokens, index + 1);
                S.Lessons[index] = new Lesson(index, Title(r, index), answer.Text, answer.Model, answer.PromptTokens + answer.CompletionTokens, answer.Cost);
                Charge(answer);
                Record(SagaSteps.Lessons, "lesson", $"lesson {index + 1} of {r.Lessons} written by {answer.Model}");
                await SaveAsync();
            }
            finally
            {
                slots.Release();
            }
        }));

        await AdvanceAsync(SagaSteps.CreateCourse, "lessons", $"all {r.Lessons} lessons written");
    }

    /// <summary>One model call; transient failures left after the router's own retries and fallbacks are tried again.</summary>
    private async Task<ChatCompletion> CallAsync(string prompt, int maxTokens, int seed)
    {
        for (var attempt = 1; ; attempt++)
        {
            _cancel.Token.ThrowIfCancellationRequested();
            try
            {
                return await Router.CompleteChatAsync(Chat(prompt, maxTokens, seed), _cancel.Token);
            }
            catch (Exception e) when (attempt < 3 && Routing.Faults.FallsBack(e))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), _cancel.Token);
            }
        }
    }

    private void Charge(ChatCompletion answer)
    {
        S.Spend += answer.Cost;
        S.Tokens += answer.PromptTokens + answer.CompletionTokens;
    }

    private async Task CreateCourseAsync()
    {
        var r = S.Request!;
        if (S.CourseId is null)
        {
            // Known before anything is created, so compensation can always find what to delete.
            S.CourseId = "course_" + this.GetPrimaryKeyString().Replace("saga_", "", StringComparison.Ordinal);
            await SaveAsync();
        }

        var now = time.GetUtcNow();
        var lessons = S.Lessons.Values.OrderBy(l => l.Index).ToArray();
        await GrainFactory.GetGrain<ICourseGrain>(S.CourseId).CreateAsync(
            new Course(S.CourseId, S.User!, r.Subject, r.Level, r.Language, S.Outline ?? "", lessons, this.GetPrimaryKeyString(), now, S.Spend));
        await GrainFactory.GetGrain<IUserCoursesGrain>(S.User!).AddAsync(new CourseSummary(S.CourseId, r.Subject, r.Level, lessons.Length, now));
        await AdvanceAsync(SagaSteps.Settle, "course_created", $"course {S.CourseId} stored with {lessons.Length} lessons");
    }

    private async Task SettleAsync()
    {
        _cancel.Token.ThrowIfCancellationRequested(); // a cancel that landed during the last steps still wins
        var entry = await Budget.SettleAsync(new SettleRequest(S.Reservation, S.Spend, S.Tokens, "ok"));
        S.Charged = entry?.Cost ?? S.Charged;
        S.State = SagaStates.Succeeded;
        await AdvanceAsync(SagaSteps.Done, "succeeded", string.Create(CultureInfo.InvariantCulture, $"settled at ${S.Spend}; the rest of the hold released"));
    }

    private async Task AdvanceAsync(string next, string kind, string message)
    {
        S.Step = next;
        Record(next, kind, message);
        await SaveAsync();
    }

    private void Record(string step, string kind, string message)
    {
        S.UpdatedAt = time.GetUtcNow();
        S.Events.Add(new SagaEvent(S.Events.Count + 1, S.UpdatedAt, step, kind, message, S.Lessons.Count, S.Spend, S.State));
        Changed();
    }

    /// <summary>Writes one at a time: lessons finish concurrently and each is saved as it lands.</summary>
    private async Task SaveAsync()
    {
        await _writes.WaitAsync();
        try
        {
            await state.WriteOwnStateAsync();
        }
        finally
        {
            _writes.Release();
            Changed(); // a state change (an end, say) is saved, if not always recorded as an event
        }
    }

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
