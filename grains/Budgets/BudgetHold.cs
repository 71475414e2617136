using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// A hold on a user's budget (and, through its parent slices, on their team's and organization's): reserved, kept open
/// while its work runs, settled once; a holder that never settles leaves it to expire. Every holder uses this type —
/// embeddings, chats streamed or not, course sagas — and a refusal becomes the 429 naming the level and limit here
/// only (<see cref="Refusal"/>). The router's KServe slices (<see cref="BudgetLeases"/>) are holds of the same grain
/// opened as leases.
/// </summary>
internal sealed class BudgetHold : IAsyncDisposable
{
    /// <summary>How often a kept-open hold is renewed by default: well inside the shortest configured reservation TTL (minutes).</summary>
    public static readonly TimeSpan DefaultRenewEvery = TimeSpan.FromSeconds(30);

    private readonly IUserBudgetGrain _budget;
    private CancellationTokenSource? _stop;
    private Task? _renewing;
    private int _renewals;

    private BudgetHold(IUserBudgetGrain budget, Guid id) => (_budget, Id) = (budget, id);

    public Guid Id { get; }

    /// <summary>How many renewals the budget has granted so far.</summary>
    public int Renewals => Volatile.Read(ref _renewals);

    /// <summary>Holds <paramref name="request"/>'s worst case on <paramref name="user"/>'s budget, or throws its refusal.</summary>
    public static async Task<BudgetHold> ReserveAsync(IGrainFactory grains, string user, ReserveRequest request)
    {
        var budget = grains.GetGrain<IUserBudgetGrain>(user);
        var result = await budget.ReserveAsync(request);
        return result.Granted ? new BudgetHold(budget, result.ReservationId) : throw Refusal(result);
    }

    /// <summary>A hold reserved earlier (a saga's, kept in its state), to keep open and settle.</summary>
    public static BudgetHold Of(IGrainFactory grains, string user, Guid id) => new(grains.GetGrain<IUserBudgetGrain>(user), id);

    /// <summary>Takes one request permit at every level for an answer that costs nothing, or throws the refusal.</summary>
    public static async Task AdmitFreeAsync(IGrainFactory grains, string user, string? team)
    {
        var admitted = await grains.GetGrain<IUserBudgetGrain>(user).AdmitFreeAsync(team);
        if (!admitted.Granted)
        {
            throw Refusal(admitted);
        }
    }

    /// <summary>A budget's refusal as the failure every protocol renders: 429 naming the limit, the level in its message.</summary>
    public static AiFleetException Refusal(ReserveResult refused) => AiFleetException.OverBudget(refused.RefusedBy!, refused.Message!, refused.RetryAfter);

    /// <summary>
    /// Renews the hold every <paramref name="every"/> (to <paramref name="ttl"/>, or the configured TTL) until it is settled or
    /// disposed, so long work (a stream, a saga step) never outlives it. A failed renewal is tried again next period.
    /// </summary>
    public BudgetHold KeepOpen(TimeSpan? every = null, TimeSpan? ttl = null, TimeProvider? time = null)
    {
        if (_stop is null)
        {
            _stop = new CancellationTokenSource();
            _renewing = RenewLoopAsync(every ?? DefaultRenewEvery, ttl, time ?? TimeProvider.System, _stop.Token);
        }

        return this;
    }

    /// <summary>Charges what the work used (at most what is held) at every level; null when it was settled before.</summary>
    public async Task<LedgerEntry?> SettleAsync(decimal cost, int tokens, string outcome)
    {
        await StopRenewingAsync();
        return await _budget.SettleAsync(new SettleRequest(Id, cost, tokens, outcome));
    }

    /// <summary>Stops renewing; the hold itself stays until settled or expired.</summary>
    public ValueTask DisposeAsync() => new(StopRenewingAsync());

    private async Task StopRenewingAsync()
    {
        if (_stop is null)
        {
            return;
        }

        await _stop.CancelAsync();
        try
        {
            await _renewing!;
        }
        catch (OperationCanceledException)
        {
            // Stopped while waiting: the usual end.
        }

        _stop.Dispose();
        (_stop, _renewing) = (null, null);
    }

    private async Task RenewLoopAsync(TimeSpan every, TimeSpan? ttl, TimeProvider time, CancellationToken stop)
    {
        while (true)
        {
            await Task.Delay(every, time, stop);
            try
            {
                if (await _budget.RenewAsync(Id, ttl) is null)
                {
                    return; // settled or already expired: nothing left to keep open
                }

                Interlocked.Increment(ref _renewals);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The budget could not be reached this time; try again at the next period.
            }
        }
    }
}
