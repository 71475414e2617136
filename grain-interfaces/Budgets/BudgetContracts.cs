namespace Orleans.AiFleet.GrainInterfaces.Budgets;

/// <summary>
/// A user's limits; null means no limit of that kind. Money is in US dollars as <see cref="decimal"/>, so sums are
/// exact to the cent and beyond. Daily and monthly windows are UTC calendar days and months.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.BudgetLimits")]
public sealed record BudgetLimits(
    [property: Id(0)] decimal? PerRequest = null,
    [property: Id(1)] decimal? Daily = null,
    [property: Id(2)] decimal? Monthly = null,
    [property: Id(3)] int? RequestsPerMinute = null,
    [property: Id(4)] int? TokensPerMinute = null,
    [property: Id(5)] int? MaxParallel = null)
{
    public static readonly BudgetLimits None = new();
}

/// <summary>
/// What a request asks to hold before it runs: its worst-case cost and tokens, the user's tier (for the spend metrics)
/// and the team it is charged to (a key narrowed to one team; null: the user's first team).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ReserveRequest")]
public sealed record ReserveRequest(
    [property: Id(0)] string Model,
    [property: Id(1)] decimal Cost,
    [property: Id(2)] int Tokens,
    [property: Id(3)] TimeSpan? Ttl = null,
    [property: Id(4)] string? RequestId = null,
    [property: Id(5)] string? UserTier = null,
    [property: Id(6)] string? Team = null);

/// <summary>
/// A slice of a budget, spent by its holder without a call here per request and settled (with <c>SettleAsync</c>) at
/// what it spent: a router's slice of a user's budget for many KServe inferences of one model, or a child budget's
/// slice of its parent's (a user's of their team's, a team's of its organization's). Up to <see cref="Amount"/>
/// dollars, <see cref="Requests"/> requests-per-minute permits, <see cref="Tokens"/> tokens-per-minute permits and
/// <see cref="Slots"/> requests at once; at least one unit (<see cref="UnitCost"/>, <see cref="UnitTokens"/>) or
/// refused. <see cref="Extend"/> names a slice this holder has already, to grow it rather than open another.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.LeaseRequest")]
public sealed record LeaseRequest(
    [property: Id(0)] string Model,
    [property: Id(1)] decimal UnitCost,
    [property: Id(2)] decimal Amount,
    [property: Id(3)] int Requests,
    [property: Id(4)] TimeSpan? Ttl = null,
    [property: Id(5)] string? UserTier = null,
    [property: Id(6)] string? Team = null,
    [property: Id(7)] int UnitTokens = 0,
    [property: Id(8)] int Tokens = 0,
    [property: Id(9)] int Slots = 1,
    [property: Id(10)] Guid? Extend = null);

/// <summary>
/// A lease's hold (or the refusal naming the level and limit), and what it grants: money, request and token permits,
/// and requests at once (<see cref="Slots"/> null: no parallel cap at this level or above). <see cref="PerRequest"/> is the
/// tightest per-request cap here and above, set by the budget <see cref="PerRequestBy"/>; each request spent from the
/// slice must stay under it.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.LeaseResult")]
public sealed record LeaseResult(
    [property: Id(0)] ReserveResult Hold,
    [property: Id(1)] decimal Amount,
    [property: Id(2)] int Requests,
    [property: Id(3)] int Tokens = 0,
    [property: Id(4)] int? Slots = null,
    [property: Id(5)] decimal? PerRequest = null,
    [property: Id(6)] string? PerRequestBy = null);

/// <summary>The limit a reservation was refused on, named as the API reports it.</summary>
public static class BudgetLimitCodes
{
    public const string PerRequest = "per_request_cap";
    public const string Daily = "daily_cap";
    public const string Monthly = "monthly_cap";
    public const string RequestsPerMinute = "requests_per_minute";
    public const string TokensPerMinute = "tokens_per_minute";
    public const string MaxParallel = "max_parallel";
}

/// <summary>
/// A hold on a budget, or a refusal naming the limit hit, the budget whose limit it is (<see cref="Budget"/>, a
/// <see cref="BudgetKeys"/> key: the user's, their team's or their organization's), and when a retry could succeed.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ReserveResult")]
public sealed record ReserveResult(
    [property: Id(0)] Guid ReservationId,
    [property: Id(1)] DateTimeOffset ExpiresAt,
    [property: Id(2)] string? RefusedBy,
    [property: Id(3)] string? Message,
    [property: Id(4)] TimeSpan? RetryAfter,
    [property: Id(5)] string? Budget = null)
{
    public bool Granted => RefusedBy is null;

    public static ReserveResult Grant(Guid id, DateTimeOffset expiresAt) => new(id, expiresAt, null, null, null);

    public static ReserveResult Refuse(string limit, string message, TimeSpan? retryAfter = null) =>
        new(Guid.Empty, default, limit, message, retryAfter);
}

/// <summary>What a request really used. <see cref="Outcome"/>: ok, failed, timeout, cancelled, disconnected, ...</summary>
[GenerateSerializer, Immutable, Alias("aifleet.SettleRequest")]
public sealed record SettleRequest(
    [property: Id(0)] Guid ReservationId,
    [property: Id(1)] decimal Cost,
    [property: Id(2)] int Tokens,
    [property: Id(3)] string Outcome,
    [property: Id(4)] int Requests = 1);

/// <summary>One settled request (or, for a lease, the many it paid for) in a user's ledger.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.LedgerEntry")]
public sealed record LedgerEntry(
    [property: Id(0)] long Sequence,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] Guid ReservationId,
    [property: Id(3)] string Model,
    [property: Id(4)] decimal Cost,
    [property: Id(5)] int Tokens,
    [property: Id(6)] string Outcome,
    [property: Id(7)] int Requests = 1);

/// <summary>Spend, tokens and requests of one model on one UTC day.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.UsageRow")]
public sealed record UsageRow(
    [property: Id(0)] DateOnly Day,
    [property: Id(1)] string Model,
    [property: Id(2)] decimal Spend,
    [property: Id(3)] long Tokens,
    [property: Id(4)] long Requests);

/// <summary>A user's limits and where they stand: settled spend today and this month, and what is held.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.BudgetStatus")]
public sealed record BudgetStatus(
    [property: Id(0)] string User,
    [property: Id(1)] BudgetLimits Limits,
    [property: Id(2)] decimal SpentToday,
    [property: Id(3)] decimal SpentThisMonth,
    [property: Id(4)] decimal Reserved,
    [property: Id(5)] int OpenReservations);
