using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// Settled spend of one budget: per UTC day and model (the usage rows a report reads) and per day (what the daily and
/// monthly caps read), kept for <paramref name="retentionDays"/> after the newest day.
/// </summary>
internal sealed class UsageTotals(int retentionDays)
{
    private readonly Dictionary<(DateOnly Day, string Model), UsageRow> _rows = [];
    private readonly Dictionary<DateOnly, decimal> _days = [];

    /// <summary>Adds a settled entry to its day and model, and forgets days past the retention.</summary>
    public void Apply(LedgerEntry entry)
    {
        var day = DateOnly.FromDateTime(entry.At.UtcDateTime);
        Add(new UsageRow(day, entry.Model, entry.Cost, entry.Tokens, entry.Requests));
        var oldest = day.AddDays(-retentionDays);
        foreach (var key in _rows.Keys.Where(k => k.Day < oldest).ToArray())
        {
            _days.Remove(key.Day);
            _rows.Remove(key);
        }
    }

    /// <summary>Adds a row's amounts to the totals of its day and model (rows read back from storage, or one entry's).</summary>
    public void Add(UsageRow row)
    {
        var key = (row.Day, row.Model);
        _rows[key] = _rows.GetValueOrDefault(key) is { } existing
            ? existing with { Spend = existing.Spend + row.Spend, Tokens = existing.Tokens + row.Tokens, Requests = existing.Requests + row.Requests }
            : row;
        _days[row.Day] = _days.GetValueOrDefault(row.Day) + row.Spend;
    }

    public decimal Day(DateOnly day) => _days.GetValueOrDefault(day);

    /// <summary>Spend from the first of <paramref name="today"/>'s month to <paramref name="today"/>.</summary>
    public decimal MonthTo(DateOnly today)
    {
        var total = 0m;
        for (var day = new DateOnly(today.Year, today.Month, 1); day <= today; day = day.AddDays(1))
        {
            total += _days.GetValueOrDefault(day);
        }

        return total;
    }

    /// <summary>The rows from <paramref name="from"/> to <paramref name="to"/> inclusive, by day then model.</summary>
    public IReadOnlyList<UsageRow> Rows(DateOnly from, DateOnly to) =>
        _rows.Values.Where(r => r.Day >= from && r.Day <= to).OrderBy(r => r.Day).ThenBy(r => r.Model, StringComparer.Ordinal).ToArray();

    /// <summary>Every row, to persist.</summary>
    public List<UsageRow> All() => _rows.Values.ToList();
}
