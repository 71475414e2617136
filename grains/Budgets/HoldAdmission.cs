using System.Globalization;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// Whether a budget can grant an ask now, decided in one synchronous step (so nothing interleaves between the check and
/// the hold): refused by its own limits or a parent's per-request cap; a top-up of the parent slice needed first; or
/// granted, with what and on which slice. A parent budget grants a lease at most a quarter of its headroom, so that near
/// a cap slices shrink to one unit and siblings are not starved. Also what a settlement may charge.
/// </summary>
internal sealed class HoldAdmission(string key, BudgetCaps caps, OpenHolds holds, UsageTotals usage, ParentSlices slices)
{
    public abstract record Verdict;

    public sealed record Refused(ReserveResult Refusal) : Verdict;

    public sealed record TopUp : Verdict;

    public sealed record Granted(HoldGrant Grant, ParentSlice? Slice) : Verdict;

    private static readonly TopUp NeedsTopUp = new();

    private bool IsParent => BudgetKeys.Level(key) != BudgetKeys.UserLevel;

    public Verdict Decide(HoldAsk ask, string? parent, DateTimeOffset now)
    {
        var refused = ask.IsFree
            ? caps.RequestsPerMinuteRefusal(permits: 1)
            : caps.Refusal(ask.UnitCost, ask.UnitTokens, permits: 1, ask.LeastSlots, holds.Slots, holds.Held, usage, now);
        if (refused is not null)
        {
            return new Refused(Named(refused));
        }

        var grant = OwnGrant(ask, now);
        if (parent is null)
        {
            return new Granted(grant, null);
        }

        var slice = slices.Current(parent, now);
        if (slice?.PerRequest is { } cap && ask.UnitCost > cap)
        {
            var by = slice.PerRequestBy ?? parent;
            return new Refused(ReserveResult.Refuse(BudgetLimitCodes.PerRequest,
                $"{BudgetKeys.Describe(by)}: the request may cost up to ${ask.UnitCost}, above the per-request cap of ${cap}") with { Budget = by });
        }

        return slice is null || !slice.Covers(ask, holds.On(slice.Lease))
            ? NeedsTopUp
            : new Granted(grant.Within(slice, holds.On(slice.Lease), ask), slice);
    }

    /// <summary>A refusal of this budget's own limits, naming it.</summary>
    public ReserveResult Named(ReserveResult refused) =>
        refused.Budget is not null ? refused : refused with { Budget = key, Message = $"{BudgetKeys.Describe(key)}: {refused.Message}" };

    /// <summary>
    /// What settling <paramref name="held"/> at <paramref name="cost"/> charges: at most what it held; when it settles
    /// <paramref name="late"/> (its budget was released at expiry and others may have taken it), no more than the caps
    /// still allow here and its parent slice still has, so a late settle never pushes any level past its caps.
    /// </summary>
    public (decimal Charge, string Outcome) Charge(HeldReservation held, bool late, decimal cost, string outcome, ParentSlice? slice, DateTimeOffset now)
    {
        var charge = Math.Min(cost, held.Cost);
        if (!late)
        {
            return (charge, outcome);
        }

        var room = caps.Headroom(holds.Held, usage, now);
        if (held.Slice is not null)
        {
            // Only from a slice still open for holds: a closing one may have been settled at its parent already (a return
            // whose answer was lost), and what it takes in after that would never reach the parent.
            room = Math.Min(room, slice is { Closing: false } ? Math.Max(0m, slice.Free(holds.On(slice.Lease).Held)) : 0m);
        }

        var capped = Math.Min(charge, room);
        return (capped, outcome + (capped < charge
            ? string.Create(CultureInfo.InvariantCulture, $" (settled after the reservation expired; capped at ${capped} by the spending caps)")
            : " (settled after the reservation expired)"));
    }

    /// <summary>What this budget alone would grant: a request its cost; a lease as much as asked, as the caps leave, at least one unit.</summary>
    private HoldGrant OwnGrant(HoldAsk ask, DateTimeOffset now)
    {
        var limits = caps.Limits;
        var by = limits.PerRequest is null ? null : key;
        if (!ask.IsLease)
        {
            return new HoldGrant(ask.Amount, 1, ask.Tokens, ask.Slots, limits.PerRequest, by);
        }

        var room = caps.Headroom(holds.Held, usage, now);
        if (IsParent && room != decimal.MaxValue)
        {
            room = Math.Round(room / 4, 9, MidpointRounding.ToZero);
        }

        return new HoldGrant(
            Math.Max(ask.UnitCost, Math.Min(ask.Amount, room)),
            caps.GrantablePermits(ask.Requests),
            caps.GrantableTokens(ask.Tokens, ask.UnitTokens),
            caps.GrantableSlots(ask.Slots, holds.Slots),
            limits.PerRequest,
            by);
    }
}
