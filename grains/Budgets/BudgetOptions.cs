using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>Budget defaults, bound from <c>AiFleet:Budgets</c>.</summary>
public sealed class BudgetOptions
{
    public const string SectionName = "AiFleet:Budgets";

    /// <summary>The limits of a user no admin has set limits for.</summary>
    public BudgetLimits Default { get; set; } = BudgetLimits.None;

    /// <summary>How long a reservation holds budget unless settled first.</summary>
    public TimeSpan ReservationTtl { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long an expired reservation can still be settled (charged) late.</summary>
    public TimeSpan LateSettleWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Whether KServe inferences are charged to the caller's budget at the model's cost (through leased slices, see
    /// BudgetLeases). Off only to measure what metering costs.
    /// </summary>
    public bool MeterKServe { get; set; } = true;

    /// <summary>How many days of usage totals a budget keeps.</summary>
    public int UsageRetentionDays { get; set; } = 400;
}
