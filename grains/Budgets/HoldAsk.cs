using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// One ask for a hold: a request's (one unit: its cost, tokens and one slot), a lease's (as many units as it can get,
/// at least one, optionally growing the lease <see cref="Extend"/> names) or a cached answer's (<see cref="IsFree"/>: one
/// request permit, no hold); and the team it is charged to.
/// </summary>
internal sealed record HoldAsk(
    string Model, decimal UnitCost, int UnitTokens, decimal Amount, int Requests, int Tokens, int Slots, bool IsLease,
    TimeSpan? Ttl = null, string? Tier = null, string? Team = null, Guid? Extend = null, bool IsFree = false)
{
    /// <summary>The slots without which nothing can be granted: a request's own, one of a lease's.</summary>
    public int LeastSlots => IsLease ? Math.Min(1, Slots) : Slots;

    public static HoldAsk Free(string? team) => new("", 0m, 0, 0m, 1, 0, 0, false, Team: team, IsFree: true);

    public static HoldAsk For(ReserveRequest r) =>
        new(r.Model, r.Cost, r.Tokens, r.Cost, 1, r.Tokens, 1, false, r.Ttl, r.UserTier, r.Team);

    public static HoldAsk For(LeaseRequest r) =>
        new(r.Model, r.UnitCost, r.UnitTokens, r.Amount, r.Requests, r.Tokens, r.Slots, true, r.Ttl, r.UserTier, r.Team, r.Extend);
}

/// <summary>What a hold grants: money, request and token permits, slots (null: no cap) and the tightest per-request cap with who set it.</summary>
internal readonly record struct HoldGrant(decimal Amount, int Requests, int Tokens, int? Slots, decimal? PerRequest, string? PerRequestBy)
{
    /// <summary>This grant cut to what <paramref name="slice"/> has left beside its open holds (<paramref name="on"/>).</summary>
    public HoldGrant Within(ParentSlice slice, (decimal Held, int Slots, int Count) on, HoldAsk ask)
    {
        var (perRequest, by) = (PerRequest, slice.PerRequest) switch
        {
            ({ } mine, { } theirs) when theirs < mine => (theirs, slice.PerRequestBy),
            (null, { } theirs) => (theirs, slice.PerRequestBy),
            _ => (PerRequest, PerRequestBy),
        };
        return new HoldGrant(
            Math.Min(Amount, slice.Free(on.Held)),
            Math.Min(Requests, slice.Requests - slice.RequestsUsed),
            Math.Min(Tokens, slice.Tokens - slice.TokensUsed),
            slice.Slots is { } cap ? Math.Min(Slots ?? ask.Slots, cap - on.Slots) : Slots,
            perRequest,
            by);
    }
}
