using System.Globalization;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>The saga's steps: validate, reserve, outline, lessons (in parallel), create the course, settle.</summary>
internal sealed partial class CourseGenerationGrain
{
    private IInferenceRouterGrain Router => GrainFactory.GetGrain<IInferenceRouterGrain>(0);

    /// <summary>The saga's one hold on the user's budget, reserved at admission, kept open while steps run, settled at the end.</summary>
    private BudgetHold Hold => BudgetHold.Of(GrainFactory, S.User!, S.Reservation);

    /// <summary>
    /// Admission, before anything is kept: the request's checks, its estimate under the ceiling, and the hold on the
    /// user's budget (caps, requests per minute, parallel requests). A refusal leaves nothing behind (no state, no
    /// reminder, no index entry, no activation), so a flood of starts cannot fill the store with failed sagas.
    /// </summary>
    private async Task AdmitAsync(string user, string? userTier, string? team, CourseRequest request)
    {
        if (request.Validate() is { Count: > 0 } errors)
        {
            DeactivateOnIdle();
            throw AiFleetException.Invalid(string.Join("; ", errors));
        }

        (S.User, S.UserTier, S.Team, S.Request) = (user, userTier, team, request); // the prompts the estimate prices are built from these
        Guid reservation;
        try
        {
            S.Reserved = await EstimateAsync();
            reservation = await HoldAsync();
        }
        catch
        {
            (S.User, S.UserTier, S.Team, S.Request, S.Reserved) = (null, null, null, null, 0m);
            DeactivateOnIdle();
            throw;
        }

        (S.Reservation, S.State, S.Step, S.CreatedAt) = (reservation, SagaStates.Running, SagaSteps.Outline, time.GetUtcNow());
        Record(SagaSteps.Validate, "started", $"course on '{request.Subject}' ({request.Lessons} lessons) accepted");
        Record(SagaSteps.Reserve, "reserved", string.Create(CultureInfo.InvariantCulture, $"${S.Reserved} held on the budget of '{user}'"));
        try
        {
            await SaveAsync();
            await this.RegisterOrUpdateReminder(ResumeReminder, options.Value.ResumeEvery, options.Value.ResumeEvery);
        }
        catch
        {
            // Not kept, so not run: the hold ends here rather than an hour from now.
            await Hold.SettleAsync(0m, 0, "not_started");
            throw;
        }

        EnsureRunning();
    }

    /// <summary>What the whole course may cost, refused when over the request's budget ceiling.</summary>
    private async Task<decimal> EstimateAsync()
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

        return estimate;
    }

    /// <summary>The saga's one hold, for its whole estimate (a concurrent start of the same saga waits for this one).</summary>
    private async Task<Guid> HoldAsync()
    {
        var r = S.Request!;
        var hold = await BudgetHold.ReserveAsync(GrainFactory, S.User!, new ReserveRequest(
            "course-generation", S.Reserved, (r.Lessons + 1) * r.LessonTokens, HoldFor, UserTier: S.UserTier, Team: S.Team));
        return hold.Id;
    }

    /// <summary>The first step of a saga admitted before admission moved ahead of persistence (state written by an older build).</summary>
    private async Task ValidateAsync()
    {
        S.Reserved = await EstimateAsync();
        await AdvanceAsync(SagaSteps.Reserve, "validated", string.Create(CultureInfo.InvariantCulture, $"request valid; the course may cost up to ${S.Reserved}"));
    }

    /// <summary>The second step of such an older saga.</summary>
    private async Task ReserveAsync()
    {
        S.Reservation = await HoldAsync();
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
        var entry = await Hold.SettleAsync(S.Spend, S.Tokens, "ok");
        S.Charged = entry?.Cost ?? S.Charged;
        S.State = SagaStates.Succeeded;
        await AdvanceAsync(SagaSteps.Done, "succeeded", string.Create(CultureInfo.InvariantCulture, $"settled at ${S.Spend}; the rest of the hold released"));
        metrics.Ended(SagaStates.Succeeded);
    }
}
