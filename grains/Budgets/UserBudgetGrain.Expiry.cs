using Microsoft.Extensions.Logging;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>Holds past their time: they stop holding budget, and can still be settled late for a while.</summary>
internal sealed partial class UserBudgetGrain
{
    /// <summary>Reservations past their time stop holding budget; they can still be settled late for a while.</summary>
    private void ExpireDue(DateTimeOffset now)
    {
        if (state.State.Open.Count == 0 && _expired.Count == 0)
        {
            return;
        }

        foreach (var (id, held) in state.State.Open.Where(r => r.Value.ExpiresAt <= now).ToArray())
        {
            state.State.Open.Remove(id);
            _reserved -= held.Cost;
            _expired[id] = held;
            LogExpired(logger, User, id, held.Cost);
        }

        CountOpenHolds();

        foreach (var id in _expired.Where(r => r.Value.ExpiresAt + options.Value.LateSettleWindow <= now).Select(r => r.Key).ToArray())
        {
            _expired.Remove(id);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Budget of {User}: reservation {Reservation} of ${Cost} expired unsettled and no longer holds budget")]
    private static partial void LogExpired(ILogger logger, string user, Guid reservation, decimal cost);
}
