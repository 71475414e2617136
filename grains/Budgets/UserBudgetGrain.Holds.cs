using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>Opening, growing and renewing holds inside the parent's slice; the budget's parents and the slices' timer; this silo's open-holds gauge.</summary>
internal sealed partial class UserBudgetGrain
{
    /// <summary>The open holds this activation has added to the open-holds gauge.</summary>
    private int _countedOpen;

    private bool _deactivated;

    private IGrainTimer? _returns;

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.HoldsOpened(-_countedOpen); // another activation (here or on another silo) counts them from now on
        _countedOpen = 0;
        _deactivated = true; // a call still finishing must not count them here again
        await _slices.ReturnIdleAsync(closingOnly: false, cancellationToken);
    }

    public async Task SetParentsAsync(string? org, IReadOnlyList<string> teams)
    {
        if (Level != BudgetKeys.UserLevel)
        {
            throw AiFleetException.Invalid($"only a user's budget has parents to set; {BudgetKeys.Describe(Key)}'s follow from its key");
        }

        // Slices of parents left take no new holds, and are settled there once their open holds end.
        _slices.CloseAllBut(BudgetParents.Set(state.State, org, teams));
        await WriteAsync();
        await _slices.ReturnIdleAsync(closingOnly: true, CancellationToken.None);
    }

    /// <summary>
    /// Opens (or, for a lease naming one, grows) a hold, or admits a cached answer: refused by a level's limits, or
    /// granted inside the parent's slice, topped up from the parent first when it does not cover one unit.
    /// </summary>
    private async Task<LeaseResult> OpenAsync(HoldAsk ask)
    {
        var parent = await BudgetParents.OfAsync(Key, state.State, ask.Team, GrainFactory);
        while (true)
        {
            var now = time.GetUtcNow();
            ExpireDue(now);
            switch (_admission.Decide(ask, parent, now))
            {
                case HoldAdmission.Refused refused:
                    return new LeaseResult(Refused(refused.Refusal), 0m, 0);
                case HoldAdmission.Granted { Grant: var grant, Slice: var slice }:
                    return await HoldAsync(ask, grant, slice, now);
            }

            var refusal = await _slices.TopUpAsync(parent!, ask);
            StartReturningSlices();
            if (refusal is not null)
            {
                return new LeaseResult(Refused(refusal), 0m, 0);
            }

            // Checked again in one turn: others may have taken what came.
        }
    }

    /// <summary>Opens the hold (or grows the lease named by <see cref="HoldAsk.Extend"/>) and makes it durable before granting it; a cached answer takes its permits only.</summary>
    private async Task<LeaseResult> HoldAsync(HoldAsk ask, HoldGrant grant, ParentSlice? slice, DateTimeOffset now)
    {
        _caps.Take(grant.Requests, grant.Tokens);
        if (slice is not null)
        {
            slice.RequestsUsed += grant.Requests;
            slice.TokensUsed += grant.Tokens;
            slice.LastUsed = now;
        }

        if (ask.IsFree)
        {
            return new LeaseResult(new ReserveResult(Guid.Empty, now, null, null, null), 0m, grant.Requests);
        }

        var expires = now + (ask.Ttl ?? options.Value.ReservationTtl);
        var (id, undo) = _holds.OpenOrGrow(ask.Extend, new HeldReservation(ask.Model, grant.Amount, grant.Tokens, expires, ask.Tier, slice?.Lease, grant.Slots ?? ask.Slots));
        CountOpenHolds();
        try
        {
            await WriteAsync();
        }
        catch (Exception e)
        {
            // Not durable, so not granted: the hold (or the growth) is undone and the caller told to come back.
            undo();
            CountOpenHolds();
            LogWriteFailed(logger, e, Key);
            metrics.StoreFailed("state_write");
            throw AiFleetException.StoreUnavailable($"the budget of {BudgetKeys.Describe(Key)} could not be saved; nothing was reserved: {e.Message}");
        }

        return new LeaseResult(ReserveResult.Grant(id, expires), grant.Amount, grant.Requests, grant.Tokens, grant.Slots, grant.PerRequest, grant.PerRequestBy);
    }

    public async Task<DateTimeOffset?> RenewAsync(Guid reservationId, TimeSpan? ttl = null)
    {
        CountChildCall("renew");
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

    /// <summary>Checks the slices every second while there are any: returns the idle ones, renews the busy ones.</summary>
    private void StartReturningSlices()
    {
        if (_returns is null && _slices.Count > 0 && !_deactivated)
        {
            _returns = this.RegisterGrainTimer(ReturnOrRenewSlicesAsync, new GrainTimerCreationOptions(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1))
            {
                Interleave = true,
                KeepAlive = false,
            });
        }
    }

    private async Task ReturnOrRenewSlicesAsync(CancellationToken cancellationToken)
    {
        ExpireDue(time.GetUtcNow());
        await _slices.ReturnOrRenewAsync();
        if (_slices.Count == 0)
        {
            _returns?.Dispose();
            _returns = null;
        }
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
}
