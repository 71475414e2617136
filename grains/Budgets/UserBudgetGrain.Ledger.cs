namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>Writing through the budget's book, and holds expiring.</summary>
internal sealed partial class UserBudgetGrain
{
    /// <summary>Waits until a write that includes every change made so far has finished (one write covers many calls).</summary>
    private Task WriteAsync() => _book.WriteAsync();

    /// <summary>Holds past their time stop holding budget; each is logged once.</summary>
    private void ExpireDue(DateTimeOffset now)
    {
        foreach (var (id, held) in _holds.ExpireDue(now))
        {
            LogExpired(logger, Key, id, held.Cost);
        }

        CountOpenHolds();
    }
}
