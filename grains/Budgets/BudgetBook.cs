using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// A budget's persistence: settled entries appended to the ledger first, then the state with its usage rows, one write
/// at a time shared by every change made meanwhile (<see cref="CoalescedWrites"/>); entries that fail to append are kept
/// for the next write (appends are idempotent). On activation, entries past the state's sequence (a crash between the
/// ledger append and the state write) are taken back in, so the totals never disagree with the ledger.
/// Not thread-safe: for one grain activation's turns.
/// </summary>
internal sealed class BudgetBook(IPersistentState<UserBudgetState> state, ILedgerStore ledger, string key, UsageTotals usage)
{
    private readonly CoalescedWrites _writes = new();

    private List<LedgerEntry> _unwritten = [];

    /// <summary>Records a settlement: the next entry of the ledger, counted in the usage totals now and stored with the next write.</summary>
    public LedgerEntry Settle(DateTimeOffset at, Guid reservation, string model, decimal cost, int tokens, string outcome, int requests)
    {
        var entry = new LedgerEntry(++state.State.Sequence, at, reservation, model, cost, tokens, outcome, requests);
        usage.Apply(entry);
        _unwritten.Add(entry);
        return entry;
    }

    /// <summary>Waits until a write that includes every change made so far has finished (one write covers many calls).</summary>
    public Task WriteAsync() => _writes.WriteAsync(WriteOnceAsync);

    /// <summary>Takes in the ledger entries the state missed, closing their holds and adding them to their slices; how many.</summary>
    public async Task<int> RecoverAsync(OpenHolds holds, ParentSlices slices, DateOnly today)
    {
        var recovered = 0;
        foreach (var day in new[] { state.State.LastLedgerDay, today }.Distinct())
        {
            foreach (var entry in (await ledger.ReadAsync(key, day)).Where(e => e.Sequence > state.State.Sequence).OrderBy(e => e.Sequence))
            {
                if (holds.Drop(entry.ReservationId)?.Slice is { } lease && slices.Find(lease) is { } slice)
                {
                    slice.Spend(entry);
                }

                usage.Apply(entry);
                state.State.Sequence = entry.Sequence;
                recovered++;
            }
        }

        return recovered;
    }

    /// <summary>The entries settled in the UTC days from <paramref name="from"/> to <paramref name="to"/> (at most 367 days).</summary>
    public async Task<IReadOnlyList<LedgerEntry>> ReadAsync(DateOnly from, DateOnly to)
    {
        if (to < from || to.DayNumber - from.DayNumber > 366)
        {
            throw AiFleetException.Invalid("a ledger range is at most 367 days, from before to");
        }

        var entries = new List<LedgerEntry>();
        for (var day = from; day <= to; day = day.AddDays(1))
        {
            entries.AddRange(await ledger.ReadAsync(key, day));
        }

        return entries;
    }

    private async Task WriteOnceAsync()
    {
        var entries = _unwritten;
        _unwritten = [];
        try
        {
            if (entries.Count > 0)
            {
                await ledger.AppendAsync(key, entries);
                state.State.LastLedgerDay = DateOnly.FromDateTime(entries[^1].At.UtcDateTime);
            }

            state.State.Usage = usage.All();
            await state.WriteOwnStateAsync();
        }
        catch
        {
            _unwritten.InsertRange(0, entries);
            throw;
        }
    }
}
