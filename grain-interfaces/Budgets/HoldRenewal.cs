namespace Orleans.AiFleet.GrainInterfaces.Budgets;

/// <summary>
/// Keeps a budget hold open while the work it pays for runs: renews it every <c>every</c> until disposed, so a long
/// stream or a slow provider call never outlives its hold (after which a late settle could only charge what the caps
/// still allow). Renewal failures are left to the hold's own expiry: the work is not stopped for them.
/// </summary>
public sealed class HoldRenewal : IAsyncDisposable
{
    /// <summary>How often holders renew by default: well inside the shortest configured reservation TTL (minutes).</summary>
    public static readonly TimeSpan DefaultEvery = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _renewals;

    private HoldRenewal(IUserBudgetGrain budget, Guid reservation, TimeSpan every, TimeSpan? ttl, TimeProvider time) =>
        _loop = RenewAsync(budget, reservation, every, ttl, time, _stop.Token);

    /// <summary>How many renewals the budget has granted so far.</summary>
    public int Renewals => Volatile.Read(ref _renewals);

    /// <summary>Starts renewing <paramref name="reservation"/> (to <paramref name="ttl"/>, or the configured TTL) every <paramref name="every"/>.</summary>
    public static HoldRenewal Start(IUserBudgetGrain budget, Guid reservation, TimeSpan? every = null, TimeSpan? ttl = null, TimeProvider? time = null) =>
        new(budget, reservation, every ?? DefaultEvery, ttl, time ?? TimeProvider.System);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
            // Stopped while waiting: the usual end.
        }

        _stop.Dispose();
    }

    private async Task RenewAsync(IUserBudgetGrain budget, Guid reservation, TimeSpan every, TimeSpan? ttl, TimeProvider time, CancellationToken stop)
    {
        while (true)
        {
            await Task.Delay(every, time, stop);
            try
            {
                if (await budget.RenewAsync(reservation, ttl) is null)
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
