using System.Globalization;
using Orleans.AiFleet.GrainInterfaces.Courses;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>How a saga ends other than by success: permanent failures, compensation in reverse, and the expiry of ended jobs.</summary>
internal sealed partial class CourseGenerationGrain
{
    /// <summary>A failed or cancelled saga kept for <see cref="CourseOptions.KeepEndedFor"/>: its state is deleted.</summary>
    private async Task ExpireAsync()
    {
        if (S.State is SagaStates.Failed or SagaStates.Cancelled && time.GetUtcNow() >= S.UpdatedAt + options.Value.KeepEndedFor)
        {
            await state.ClearStateAsync();
            DeactivateOnIdle();
        }

        if (S.Request is null || S.State is SagaStates.Succeeded)
        {
            await ForgetReminderAsync(ExpireReminder);
        }
    }

    /// <summary>Errors that another try of the same step would meet again: the request, the budget, the catalogue.</summary>
    private static bool IsPermanent(Exception e) =>
        e is AiFleetException { Code: not FailureCodes.StoreUnavailable };

    private async Task BeginCompensationAsync(string endsAs, string reason)
    {
        (S.State, S.EndsAs, S.Error) = (SagaStates.Compensating, endsAs, reason);
        Record(SagaSteps.Compensate, "compensating", reason);
        await SaveAsync();
    }

    /// <summary>
    /// In reverse: the course and its list entry, then the reservation: the model calls that finished are charged
    /// (the work was done), the rest of the hold released.
    /// </summary>
    private async Task CompensateAsync()
    {
        if (S.CourseId is { } courseId)
        {
            await GrainFactory.GetGrain<IUserCoursesGrain>(S.User!).RemoveAsync(courseId);
            await GrainFactory.GetGrain<ICourseGrain>(courseId).DeleteAsync();
            Record(SagaSteps.Compensate, "course_deleted", $"course {courseId} deleted");
        }

        if (S.Reservation != Guid.Empty)
        {
            var entry = await Hold.SettleAsync(S.Spend, S.Tokens, S.EndsAs ?? SagaStates.Failed);
            S.Charged = entry?.Cost ?? S.Charged;
            Record(SagaSteps.Compensate, "released", string.Create(CultureInfo.InvariantCulture,
                $"charged ${S.Charged} for the {S.Lessons.Count + (S.Outline is null ? 0 : 1)} model calls that finished; the rest of the ${S.Reserved} hold released"));
        }

        S.State = S.EndsAs ?? SagaStates.Failed;
        await AdvanceAsync(SagaSteps.Done, S.State, S.Error ?? S.State);
        metrics.Ended(S.State);
    }

    private async Task ForgetReminderAsync(string name)
    {
        try
        {
            if (await this.GetReminder(name) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception e) when (e is ReminderException or OrleansException)
        {
            LogReminder(logger, e, this.GetPrimaryKeyString()); // the next tick tries again
        }
    }
}
