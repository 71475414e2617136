using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>Opening, growing and renewing holds, inside the parent's slice when there is a parent; this silo's open-holds gauge.</summary>
internal sealed partial class UserBudgetGrain
{
    /// <summary>The open holds this activation has added to the open-holds gauge.</summary>
    private int _countedOpen;

    private bool _deactivated;

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.HoldsOpened(-_countedOpen); // another activation (here or on another silo) counts them from now on
        _countedOpen = 0;
        _deactivated = true; // a call still finishing must not count them here again
        await ReturnIdleSlicesAsync(cancellationToken);
    }

    /// <summary>Brings this silo's open-holds gauge in step with this budget's open holds.</summary>
    private void CountOpenHolds()
    {
        if (_deactivated)
        {
            return;
        }

        metrics.HoldsOpened(_holds.Count - _countedOpen);
        _countedOpen = _holds.Count;
    }

    /// <summary>
    /// Opens (or, for a lease naming one, grows) a hold: refused by this budget's limits, or granted inside the parent's
    /// slice, topped up from the parent first when it does not cover one unit. The checks and the hold happen in one
    /// turn after the last await, so no interleaving can grant past any level's caps.
    /// </summary>
    private async Task<LeaseResult> OpenAsync(HoldAsk ask)
    {
        var parent = await ParentAsync(ask.Team);
        while (true)
        {
            var now = time.GetUtcNow();
            ExpireDue(now);
            if (Refusal(ask.UnitCost, ask.UnitTokens, ask.LeastSlots, now) is { } refused)
            {
                return new LeaseResult(Refused(refused), 0m, 0);
            }

            var grant = OwnGrant(ask, now);
            ParentSlice? slice = null;
            if (parent is not null)
            {
                slice = _slices.Current(parent, now);
                if (slice?.PerRequest is { } cap && ask.UnitCost > cap)
                {
                    var by = slice.PerRequestBy ?? parent;
                    return new LeaseResult(Refused(ReserveResult.Refuse(BudgetLimitCodes.PerRequest,
                        $"{BudgetKeys.Describe(by)}: the request may cost up to ${ask.UnitCost}, above the per-request cap of ${cap}") with { Budget = by }), 0m, 0);
                }

                if (slice is null || !Covers(slice, ask))
                {
                    if (await TopUpAsync(parent, ask) is { } refusal)
                    {
                        return new LeaseResult(Refused(refusal), 0m, 0);
                    }

                    continue; // checked again in one turn: others may have taken what came
                }

                grant = grant.Within(slice, _holds.On(slice.Lease), ask);
            }

            return await HoldAsync(ask, grant, slice, now);
        }
    }

    /// <summary>What this budget alone would grant: a request its cost; a lease as much as asked, as the caps leave (a parent budget: a quarter of it, so siblings are not starved), at least one unit.</summary>
    private Grant OwnGrant(HoldAsk ask, DateTimeOffset now)
    {
        var limits = _caps.Limits;
        if (!ask.IsLease)
        {
            return new Grant(ask.Amount, 1, ask.Tokens, ask.Slots, limits.PerRequest, limits.PerRequest is null ? null : Key);
        }

        var room = _caps.Headroom(_holds.Held, _usage, now);
        if (Level != BudgetKeys.UserLevel && room != decimal.MaxValue)
        {
            room = Math.Round(room / 4, 9, MidpointRounding.ToZero);
        }

        return new Grant(
            Math.Max(ask.UnitCost, Math.Min(ask.Amount, room)),
            _caps.GrantablePermits(ask.Requests),
            _caps.GrantableTokens(ask.Tokens, ask.UnitTokens),
            _caps.GrantableSlots(ask.Slots, _holds.Slots),
            limits.PerRequest,
            limits.PerRequest is null ? null : Key);
    }

    /// <summary>Whether <paramref name="slice"/> still has one unit of <paramref name="ask"/>: money, a request permit, tokens and a slot.</summary>
    private bool Covers(ParentSlice slice, HoldAsk ask)
    {
        var (held, slots, _) = _holds.On(slice.Lease);
        return slice.Free(held) >= ask.UnitCost
            && slice.Requests - slice.RequestsUsed >= 1
            && slice.Tokens - slice.TokensUsed >= ask.UnitTokens
            && (slice.Slots is not { } cap || cap - slots >= ask.LeastSlots);
    }

    /// <summary>Opens the hold (or grows the lease named by <see cref="HoldAsk.Extend"/>) and makes it durable before granting it.</summary>
    private async Task<LeaseResult> HoldAsync(HoldAsk ask, Grant grant, ParentSlice? slice, DateTimeOffset now)
    {
        var expires = now + (ask.Ttl ?? options.Value.ReservationTtl);
        var slots = grant.Slots ?? ask.Slots;
        var extended = ask.Extend is { } extend && _holds.Get(extend) is { } existing && existing.Slice == slice?.Lease ? existing : null;
        var id = extended is not null ? ask.Extend!.Value : Guid.NewGuid();
        if (extended is not null)
        {
            _holds.Extend(id, grant.Amount, slots, expires);
        }
        else
        {
            _holds.Open(id, new HeldReservation(ask.Model, grant.Amount, grant.Tokens, expires, ask.Tier, slice?.Lease, slots));
        }

        _caps.Take(grant.Requests, grant.Tokens);
        if (slice is not null)
        {
            slice.RequestsUsed += grant.Requests;
            slice.TokensUsed += grant.Tokens;
            slice.LastUsed = now;
        }

        CountOpenHolds();
        try
        {
            await WriteAsync();
        }
        catch (Exception e)
        {
            // Not durable, so not granted: the hold (or the growth) is undone and the caller told to come back.
            if (extended is not null)
            {
                _holds.Extend(id, -grant.Amount, -slots, extended.ExpiresAt);
            }
            else
            {
                _holds.Drop(id);
            }

            CountOpenHolds();
            LogWriteFailed(logger, e, User);
            metrics.StoreFailed("state_write");
            throw AiFleetException.StoreUnavailable($"the budget of {BudgetKeys.Describe(Key)} could not be saved; nothing was reserved: {e.Message}");
        }

        return new LeaseResult(ReserveResult.Grant(id, expires), grant.Amount, grant.Requests, grant.Tokens, grant.Slots, grant.PerRequest, grant.PerRequestBy);
    }

    public async Task<DateTimeOffset?> RenewAsync(Guid reservationId, TimeSpan? ttl = null)
    {
        if (Level != BudgetKeys.UserLevel)
        {
            metrics.ChildCall(Level, "renew");
        }

        var now = time.GetUtcNow();
        ExpireDue(now);
        var until = now + (ttl ?? options.Value.ReservationTtl);
        if (!_holds.TryRenew(reservationId, until))
        {
            return null;
        }

        await WriteAsync();
        return until;
    }

    /// <summary>
    /// One ask for a hold: a request's (one unit: its cost, tokens and one slot) or a lease's (as many units as it can get,
    /// at least one), and the team it is charged to.
    /// </summary>
    private sealed record HoldAsk(
        string Model, decimal UnitCost, int UnitTokens, decimal Amount, int Requests, int Tokens, int Slots, bool IsLease,
        TimeSpan? Ttl = null, string? Tier = null, string? Team = null, Guid? Extend = null)
    {
        /// <summary>The slots without which nothing can be granted: a request's own, one of a lease's.</summary>
        public int LeastSlots => IsLease ? Math.Min(1, Slots) : Slots;

        /// <summary>A cached answer's: one request permit, nothing else.</summary>
        public static readonly HoldAsk Free = new("", 0m, 0, 0m, 1, 0, 0, false);

        public static HoldAsk For(ReserveRequest r) =>
            new(r.Model, r.Cost, r.Tokens, r.Cost, 1, r.Tokens, 1, false, r.Ttl, r.UserTier, r.Team);

        public static HoldAsk For(LeaseRequest r) =>
            new(r.Model, r.UnitCost, r.UnitTokens, r.Amount, r.Requests, r.Tokens, r.Slots, true, r.Ttl, r.UserTier, r.Team, r.Extend);
    }

    /// <summary>What a hold grants: money, request and token permits, slots (null: no cap) and the tightest per-request cap with who set it.</summary>
    private readonly record struct Grant(decimal Amount, int Requests, int Tokens, int? Slots, decimal? PerRequest, string? PerRequestBy)
    {
        /// <summary>This grant cut to what <paramref name="slice"/> has left beside its open holds (<paramref name="on"/>).</summary>
        public Grant Within(ParentSlice slice, (decimal Held, int Slots, int Count) on, HoldAsk ask)
        {
            var perRequest = (PerRequest, slice.PerRequest) switch
            {
                ({ } mine, { } theirs) when theirs < mine => (theirs, slice.PerRequestBy),
                (null, { } theirs) => (theirs, slice.PerRequestBy),
                _ => (PerRequest, PerRequestBy),
            };
            return new Grant(
                Math.Min(Amount, slice.Free(on.Held)),
                Math.Min(Requests, slice.Requests - slice.RequestsUsed),
                Math.Min(Tokens, slice.Tokens - slice.TokensUsed),
                slice.Slots is { } cap ? Math.Min(Slots ?? ask.Slots, cap - on.Slots) : Slots,
                perRequest.Item1,
                perRequest.Item2);
        }
    }
}
