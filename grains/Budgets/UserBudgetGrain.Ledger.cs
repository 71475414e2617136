using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>Settled spend's persistence: the ledger entries first, then the state with its usage rows.</summary>
internal sealed partial class UserBudgetGrain
{
    /// <summary>One write of everything changed so far; entries that fail to append are kept for the next (appends are idempotent).</summary>
    private async Task WriteOnceAsync()
    {
        var entries = _unwritten;
        _unwritten = [];
        try
        {
            if (entries.Count > 0)
            {
                await ledger.AppendAsync(User, entries);
                state.State.LastLedgerDay = DateOnly.FromDateTime(entries[^1].At.UtcDateTime);
            }

            state.State.Usage = _usage.All();
            await state.WriteOwnStateAsync();
        }
        catch
        {
            _unwritten.InsertRange(0, entries);
            throw;
        }
    }

    /// <summary>Waits until a write that includes every change made so far has finished (one write covers many calls).</summary>
    private Task WriteAsync() => _writes.WriteAsync(WriteOnceAsync);

    /// <summary>Holds past their time stop holding budget; each is logged once.</summary>
    private void ExpireDue(DateTimeOffset now)
    {
        foreach (var (id, held) in _holds.ExpireDue(now))
        {
            LogExpired(logger, User, id, held.Cost);
        }

        CountOpenHolds();
    }
}
