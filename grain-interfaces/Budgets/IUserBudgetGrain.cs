namespace Orleans.AiFleet.GrainInterfaces.Budgets;

/// <summary>
/// One per budget: a user's (keyed by user id), a team's or an organization's (keyed as <see cref="BudgetKeys"/> says),
/// the single writer of that budget's spend. A budget with a parent holds a slice of the parent's budget (a lease there)
/// and grants its own holds only inside it, so every request is held at every level at once, and the parent is called
/// per slice, not per request. A request reserves its worst-case cost
/// before it runs and settles what it used after; reservations also expire, so a caller that crashed cannot hold
/// budget. Every limit check counts settled spend plus open reservations, so concurrent requests can never
/// overspend. Refusals and settlements are answered only once persisted.
/// </summary>
[Alias("aifleet.IUserBudgetGrain")]
public interface IUserBudgetGrain : IGrainWithStringKey
{
    /// <summary>
    /// Holds a request's worst case, or refuses naming the limit. A request sent again with the same
    /// <see cref="ReserveRequest.RequestId"/> (a client re-sending after a gateway dropped) gets the first answer
    /// again, not a second hold, so it can be charged only once.
    /// </summary>
    [Alias("Reserve")]
    Task<ReserveResult> ReserveAsync(ReserveRequest request);

    /// <summary>
    /// A request answered free (from the response cache): nothing is held or charged, but it takes one permit of the
    /// requests-per-minute limit, so cached answers cannot be used to pass it. A refusal names the limit.
    /// </summary>
    /// <summary>
    /// Reserves a slice of the budget (a hold like any other: it expires, and is settled at what was spent) for a
    /// router to spend locally on many cheap requests without a call here per request. Grants as much of the asked
    /// amount as the caps leave (at least one unit) and as many per-minute permits as are left (at least one), or
    /// refuses naming the limit.
    /// </summary>
    [Alias("Lease")]
    Task<LeaseResult> LeaseAsync(LeaseRequest request);

    [Alias("AdmitFree")]
    Task<ReserveResult> AdmitFreeAsync(string? team = null);

    /// <summary>
    /// Extends an open reservation to <paramref name="ttl"/> from now (the configured TTL when null): holders renew
    /// while their work runs, so a hold does not expire under a long stream or a saga step. Null when the reservation
    /// is not open (settled, expired or unknown).
    /// </summary>
    [Alias("Renew")]
    Task<DateTimeOffset?> RenewAsync(Guid reservationId, TimeSpan? ttl = null);

    /// <summary>
    /// Charges what the request used, at most what it reserved, writes a ledger entry and releases the rest. A
    /// reservation that already expired is still charged (the work was done), never more than it held and never more
    /// than the spending caps still allow (its budget was released when it expired).
    /// Settling an unknown or already settled reservation changes nothing and returns null.
    /// </summary>
    [Alias("Settle")]
    Task<LedgerEntry?> SettleAsync(SettleRequest request);

    /// <summary>Whether <paramref name="reservationId"/> is an open hold here (a request paid from a hold made earlier checks it first).</summary>
    [Alias("IsOpen")]
    Task<bool> IsOpenAsync(Guid reservationId);

    /// <summary>Sets the limits (checked first: no negative amounts) and answers where the budget stands under them.</summary>
    [Alias("SetLimits")]
    Task<BudgetStatus> SetLimitsAsync(BudgetLimits limits);

    /// <summary>
    /// A user budget's place in the tenancy (called by the tenant user when saved or removed): the organization and
    /// teams its requests are charged to. Slices of parents the user has left are settled at once when idle, or as soon
    /// as their last open hold ends.
    /// </summary>
    [Alias("SetParents")]
    Task SetParentsAsync(string? org, IReadOnlyList<string> teams);

    /// <summary>Sets <paramref name="limits"/> only when no limits were ever set here (a team's member default); false when some were.</summary>
    [Alias("SetDefaultLimits")]
    Task<bool> SetDefaultLimitsAsync(BudgetLimits limits);

    [Alias("GetStatus")]
    Task<BudgetStatus> GetStatusAsync();

    /// <summary>Spend by day and model, from <paramref name="from"/> to <paramref name="to"/> inclusive.</summary>
    [Alias("GetUsage")]
    Task<IReadOnlyList<UsageRow>> GetUsageAsync(DateOnly from, DateOnly to);

    /// <summary>The ledger entries settled in the UTC days from <paramref name="from"/> to <paramref name="to"/>.</summary>
    [Alias("GetLedger")]
    Task<IReadOnlyList<LedgerEntry>> GetLedgerAsync(DateOnly from, DateOnly to);
}
