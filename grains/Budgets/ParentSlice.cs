namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// A slice of a parent budget held by a child budget: a lease at the parent of <see cref="Amount"/> dollars,
/// <see cref="Requests"/> and <see cref="Tokens"/> per-minute permits and <see cref="Slots"/> requests at once (null: no
/// parallel cap above). The child grants its own holds only inside it, so whatever the child grants the parent has
/// already granted: the parent's caps bind exactly, though the parent is called per slice rather than per request. What
/// the child's holds settle adds to <see cref="Spent"/>; the slice is settled at the parent at that amount when it is
/// returned (idle, replaced, or its parent left), so the parent's ledger sums its children's ledgers.
/// </summary>
[GenerateSerializer, Alias("aifleet.ParentSlice")]
public sealed class ParentSlice
{
    /// <summary>The parent budget's key.</summary>
    [Id(0)]
    public string Parent { get; set; } = "";

    /// <summary>The lease's hold id at the parent.</summary>
    [Id(1)]
    public Guid Lease { get; set; }

    [Id(2)]
    public decimal Amount { get; set; }

    /// <summary>What this budget's holds drawn on the slice settled.</summary>
    [Id(3)]
    public decimal Spent { get; set; }

    [Id(4)]
    public int Requests { get; set; }

    [Id(5)]
    public int RequestsUsed { get; set; }

    [Id(6)]
    public int Tokens { get; set; }

    [Id(7)]
    public int TokensUsed { get; set; }

    [Id(8)]
    public int? Slots { get; set; }

    /// <summary>The tightest per-request cap above, and the budget that set it.</summary>
    [Id(9)]
    public decimal? PerRequest { get; set; }

    [Id(10)]
    public string? PerRequestBy { get; set; }

    /// <summary>When the lease expires at the parent unless renewed.</summary>
    [Id(11)]
    public DateTimeOffset ExpiresAt { get; set; }

    [Id(12)]
    public DateTimeOffset LastUsed { get; set; }

    /// <summary>No new holds are drawn on it: it is returned once its open holds end.</summary>
    [Id(13)]
    public bool Closing { get; set; }

    /// <summary>Tokens and requests settled on the slice, for the parent's ledger entry.</summary>
    [Id(14)]
    public long TokensSpent { get; set; }

    [Id(15)]
    public int Settled { get; set; }

    /// <summary>What the last top-up asked for, and when: slices double while their holder keeps asking within a second.</summary>
    [Id(16)]
    public decimal LastAsk { get; set; }

    [Id(17)]
    public int LastAskRequests { get; set; }

    [Id(18)]
    public DateTimeOffset ToppedUpAt { get; set; }

    /// <summary>Its settlement at the parent is in flight: nothing more may be charged to it (this activation only).</summary>
    public bool Returning
    {
        get => _returning;
        set => _returning = value;
    }

    [NonSerialized]
    private bool _returning;

    /// <summary>Adds a settled hold drawn on the slice.</summary>
    public void Spend(GrainInterfaces.Budgets.LedgerEntry entry)
    {
        Spent += entry.Cost;
        TokensSpent += entry.Tokens;
        Settled += entry.Requests;
    }

    /// <summary>Whether the slice still has one unit of <paramref name="ask"/> beside its open holds (<paramref name="on"/>): money, a request permit, tokens and a slot.</summary>
    internal bool Covers(HoldAsk ask, (decimal Held, int Slots, int Count) on) =>
        Free(on.Held) >= ask.UnitCost
        && Requests - RequestsUsed >= 1
        && Tokens - TokensUsed >= ask.UnitTokens
        && (Slots is not { } cap || cap - on.Slots >= ask.LeastSlots);

    /// <summary>Money not yet spent nor held by the <paramref name="held"/> dollars of open holds drawn on it.</summary>
    public decimal Free(decimal held) => Amount - Spent - held;
}
