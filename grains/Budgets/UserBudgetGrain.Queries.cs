using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>Setting a user's caps, and what is read back: status, usage per day and model, the ledger.</summary>
internal sealed partial class UserBudgetGrain
{
    public async Task<BudgetStatus> SetLimitsAsync(BudgetLimits limits)
    {
        BudgetLimitRules.Check(limits);

        state.State.Limits = limits;
        _caps.Set(limits);
        await WriteAsync();
        return await GetStatusAsync();
    }

    public async Task<bool> SetDefaultLimitsAsync(BudgetLimits limits)
    {
        if (state.State.Limits is not null)
        {
            return false;
        }

        await SetLimitsAsync(limits);
        return true;
    }

    public Task<bool> IsOpenAsync(Guid reservationId)
    {
        ExpireDue(time.GetUtcNow());
        return Task.FromResult(_holds.Get(reservationId) is not null);
    }

    public Task<BudgetStatus> GetStatusAsync()
    {
        var now = time.GetUtcNow();
        ExpireDue(now);
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        return Task.FromResult(new BudgetStatus(Key, _caps.Limits, _usage.Day(today), _usage.MonthTo(today), _holds.Held, _holds.Count));
    }

    public Task<IReadOnlyList<UsageRow>> GetUsageAsync(DateOnly from, DateOnly to) => Task.FromResult(_usage.Rows(from, to));

    public Task<IReadOnlyList<LedgerEntry>> GetLedgerAsync(DateOnly from, DateOnly to) => _book.ReadAsync(from, to);
}
