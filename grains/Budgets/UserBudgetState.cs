using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// What a user's budget keeps across restarts: limits, open reservations, and per day and model totals of the
/// ledger up to <see cref="Sequence"/>. The ledger itself lives in the <see cref="ILedgerStore"/>.
/// </summary>
[GenerateSerializer, Alias("aifleet.UserBudgetState")]
public sealed class UserBudgetState
{
    [Id(0)]
    public BudgetLimits? Limits { get; set; }

    [Id(1)]
    public Dictionary<Guid, HeldReservation> Open { get; set; } = [];

    [Id(2)]
    public List<UsageRow> Usage { get; set; } = [];

    /// <summary>The last ledger entry's sequence number included in <see cref="Usage"/>.</summary>
    [Id(3)]
    public long Sequence { get; set; }

    /// <summary>The UTC day of the last ledger append, where entries past <see cref="Sequence"/> may exist after a crash.</summary>
    [Id(4)]
    public DateOnly LastLedgerDay { get; set; }

    /// <summary>A user budget's organization (null: none, or not yet known when <see cref="ParentsKnown"/> is false).</summary>
    [Id(5)]
    public string? Org { get; set; }

    [Id(6)]
    public List<string> Teams { get; set; } = [];

    [Id(7)]
    public bool ParentsKnown { get; set; }

    /// <summary>The slices of parent budgets this budget's holds are drawn on.</summary>
    [Id(8)]
    public List<ParentSlice> Slices { get; set; } = [];
}

/// <summary>
/// An open reservation: what it holds and until when, the user tier it was asked for under (for the spend metrics),
/// the parent slice it is drawn on (null when the budget has no parent), and the requests at once it may run (1, or a
/// lease's slots).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.HeldReservation")]
public sealed record HeldReservation(
    [property: Id(0)] string Model,
    [property: Id(1)] decimal Cost,
    [property: Id(2)] int Tokens,
    [property: Id(3)] DateTimeOffset ExpiresAt,
    [property: Id(4)] string? UserTier = null,
    [property: Id(5)] Guid? Slice = null,
    [property: Id(6)] int Slots = 1);
