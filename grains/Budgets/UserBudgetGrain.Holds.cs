using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>Opening and renewing holds, and this silo's open-holds gauge.</summary>
internal sealed partial class UserBudgetGrain
{
    /// <summary>The open holds this activation has added to the open-holds gauge.</summary>
    private int _countedOpen;

    private bool _deactivated;

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        metrics.HoldsOpened(-_countedOpen); // another activation (here or on another silo) counts them from now on
        _countedOpen = 0;
        _deactivated = true; // a call still finishing must not count them here again
        return Task.CompletedTask;
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

    /// <summary>Opens a hold and makes it durable before granting it.</summary>
    private async Task<ReserveResult> HoldAsync(string model, decimal cost, int tokens, TimeSpan? ttl, string? userTier, DateTimeOffset now)
    {
        var id = Guid.NewGuid();
        var held = new HeldReservation(model, cost, tokens, now + (ttl ?? options.Value.ReservationTtl), userTier);
        _holds.Open(id, held);
        CountOpenHolds();
        try
        {
            await WriteAsync();
        }
        catch (Exception e)
        {
            // Not durable, so not granted: the hold is dropped and the caller told to come back.
            _holds.Drop(id);
            CountOpenHolds();

            LogWriteFailed(logger, e, User);
            metrics.StoreFailed("state_write");
            throw AiFleetException.StoreUnavailable($"the budget of user '{User}' could not be saved; nothing was reserved: {e.Message}");
        }

        return ReserveResult.Grant(id, held.ExpiresAt);
    }

    public async Task<DateTimeOffset?> RenewAsync(Guid reservationId, TimeSpan? ttl = null)
    {
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
}
