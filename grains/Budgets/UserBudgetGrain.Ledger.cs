using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>Settled spend: the usage rows, the ledger, and the one-write-at-a-time persistence of both.</summary>
internal sealed partial class UserBudgetGrain
{
    /// <summary>
    /// Waits until a write that includes every change made so far has finished. Calls arriving while a write runs
    /// share the next one, so under concurrency one write covers many calls.
    /// </summary>
    private Task WriteAsync()
    {
        _nextWrite ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var mine = _nextWrite.Task;
        if (!_writing)
        {
            // The flag is set before the loop starts, not from its task: a loop that ends synchronously (a store that
            // fails at once while disconnected) would otherwise clear it before `??=` stored its finished task, and no
            // write would ever start again.
            _writing = true;
            _ = WriteLoopAsync();
        }

        return mine;
    }

    /// <summary>Writes until nothing is waiting; never throws (every failure goes to that write's waiters).</summary>
    private async Task WriteLoopAsync()
    {
        while (_nextWrite is { } done)
        {
            _nextWrite = null;
            var entries = _unwritten;
            _unwritten = [];
            try
            {
                if (entries.Count > 0)
                {
                    await ledger.AppendAsync(User, entries);
                    state.State.LastLedgerDay = DateOnly.FromDateTime(entries[^1].At.UtcDateTime);
                }

                state.State.Usage = _usage.Values.ToList();
                await state.WriteOwnStateAsync();
                done.SetResult();
            }
            catch (Exception e)
            {
                _unwritten.InsertRange(0, entries); // appends are idempotent: the next write repeats them
                done.SetException(e);
            }
        }

        _writing = false;
    }

    private void Apply(LedgerEntry entry)
    {
        var day = DateOnly.FromDateTime(entry.At.UtcDateTime);
        var row = _usage.GetValueOrDefault((day, entry.Model)) ?? new UsageRow(day, entry.Model, 0, 0, 0);
        Add(row with { Spend = entry.Cost, Tokens = entry.Tokens, Requests = entry.Requests });
        var oldest = day.AddDays(-options.Value.UsageRetentionDays);
        foreach (var key in _usage.Keys.Where(k => k.Day < oldest).ToArray())
        {
            _dayTotals.Remove(key.Day);
            _usage.Remove(key);
        }
    }

    /// <summary>Adds a row's amounts to the totals of its day and model.</summary>
    private void Add(UsageRow row)
    {
        var key = (row.Day, row.Model);
        var existing = _usage.GetValueOrDefault(key);
        _usage[key] = existing is null
            ? row
            : existing with { Spend = existing.Spend + row.Spend, Tokens = existing.Tokens + row.Tokens, Requests = existing.Requests + row.Requests };
        _dayTotals[row.Day] = _dayTotals.GetValueOrDefault(row.Day) + row.Spend;
    }
}
