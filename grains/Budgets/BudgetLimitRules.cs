using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>What limits may be, checked once for every level that takes them.</summary>
internal static class BudgetLimitRules
{
    /// <summary>Throws invalid-argument naming <paramref name="field"/> when a cap is negative or a per-minute or parallel limit below 1.</summary>
    public static void Check(BudgetLimits? limits, string field = "limits")
    {
        if (limits is not null && (limits.PerRequest < 0 || limits.Daily < 0 || limits.Monthly < 0
            || limits.RequestsPerMinute < 1 || limits.TokensPerMinute < 1 || limits.MaxParallel < 1))
        {
            throw AiFleetException.Invalid($"'{field}': caps must be zero or more, and per-minute and parallel limits at least 1 (or unset)", field);
        }
    }
}
