using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// The budget slices this silo's routers spend on KServe inferences, one per (user, model, user tier, team): a lease reserved on the
/// user's budget (so overspend stays impossible) and spent here without a grain call per request. When a slice runs
/// out it is settled at what it paid for and a larger one is leased (slices double while requests keep coming, up to
/// <see cref="MaxSliceRequests"/>); slices idle for <see cref="IdleReturn"/> or near their expiry are settled by a
/// background loop, and all of them when the silo stops. A silo that dies leaves its slices to expire like any hold.
/// </summary>
internal sealed partial class BudgetLeases(
    IGrainFactory grains, [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time, IOptions<BudgetOptions> options, ILogger<BudgetLeases> logger)
    : IAsyncDisposable
{
    public const int FirstSliceRequests = 16;
    public const int MaxSliceRequests = 4096;
    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan IdleReturn = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<(string User, string Model, string? Tier, string? Team), Slice> _slices = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _returns;
    private int _started;

    public bool Enabled => options.Value.MeterKServe;

    /// <summary>
    /// Spends <paramref name="cost"/> and one request of the user's slice for <paramref name="model"/>, leasing a new
    /// slice when this one is spent; returns the lease charged, to refund if the inference then fails. Throws the
    /// budget's refusal (429 naming the limit) when no slice can be had.
    /// </summary>
    public async ValueTask<Guid> ChargeAsync(string user, string? userTier, string? team, string model, decimal cost)
    {
        if (Volatile.Read(ref _started) == 0 && Interlocked.Exchange(ref _started, 1) == 0)
        {
            _returns = Task.Run(ReturnIdleLoopAsync); // one loop per silo, started by the first charge
        }
        var slice = _slices.GetOrAdd((user, model, userTier, team), static k => new Slice(k.User, k.Model, k.Tier, k.Team));
        while (true)
        {
            if (slice.TrySpend(cost, time.GetUtcNow()) is { } lease)
            {
                return lease;
            }

            await RefillAsync(slice, cost);
        }
    }

    /// <summary>Gives back what a failed inference was charged, if its slice is still the one held.</summary>
    public void Refund(string user, string? userTier, string? team, string model, Guid lease, decimal cost)
    {
        if (_slices.TryGetValue((user, model, userTier, team), out var slice))
        {
            slice.Refund(lease, cost);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_returns is not null)
        {
            await _returns.ContinueWith(static _ => { }, TaskScheduler.Default);
        }

        foreach (var slice in _slices.Values)
        {
            await ReturnAsync(slice);
        }

        _stop.Dispose();
    }

    private async Task RefillAsync(Slice slice, decimal cost)
    {
        await slice.Refilling.WaitAsync();
        try
        {
            var now = time.GetUtcNow();
            if (slice.CanSpend(cost, now))
            {
                return; // another caller refilled it meanwhile
            }

            var busy = slice.LeasedAt is { } last && now - last < TimeSpan.FromSeconds(1);
            await ReturnAsync(slice);
            var requests = busy ? Math.Min(slice.SliceRequests * 2, MaxSliceRequests) : FirstSliceRequests;
            var budget = grains.GetGrain<IUserBudgetGrain>(slice.User);
            var granted = await budget.LeaseAsync(new LeaseRequest(slice.Model, cost, Money.Ceiling(cost * requests), requests, LeaseTtl, slice.UserTier, slice.Team));
            if (!granted.Hold.Granted)
            {
                throw BudgetHold.Refusal(granted.Hold);
            }

            slice.Start(granted.Hold.ReservationId, granted.Amount, granted.Requests, requests, granted.Hold.ExpiresAt, now);
        }
        finally
        {
            slice.Refilling.Release();
        }
    }

    /// <summary>Settles a slice at what it paid for and releases the rest.</summary>
    private async Task ReturnAsync(Slice slice)
    {
        if (slice.Take() is not { } used)
        {
            return;
        }

        try
        {
            await grains.GetGrain<IUserBudgetGrain>(slice.User).SettleAsync(
                new SettleRequest(used.Lease, used.Spent, 0, used.Requests == 0 ? "lease returned unused" : "kserve", used.Requests));
        }
        catch (Exception e)
        {
            // The lease expires on its own; what it paid for may then be settled late, within the caps.
            LogReturnFailed(logger, e, slice.User, slice.Model);
        }
    }

    private async Task ReturnIdleLoopAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                var now = time.GetUtcNow();
                foreach (var slice in _slices.Values.Where(s => s.IsIdleOrExpiring(now, IdleReturn, LeaseTtl / 4)).ToArray())
                {
                    if (slice.Refilling.Wait(0))
                    {
                        try
                        {
                            await ReturnAsync(slice);
                        }
                        finally
                        {
                            slice.Refilling.Release();
                        }
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The silo is stopping: DisposeAsync returns what is left.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not return the KServe budget lease of user {User} on model {Model}")]
    private static partial void LogReturnFailed(ILogger logger, Exception error, string user, string model);

    /// <summary>One (user, model, user tier) slice: what is left of its lease, and what it paid for so far.</summary>
    private sealed class Slice(string user, string model, string? userTier, string? team)
    {
        private readonly Lock _lock = new();
        private Guid _lease;
        private decimal _left;
        private int _requestsLeft;
        private decimal _spent;
        private int _requests;
        private DateTimeOffset _expires;
        private DateTimeOffset _lastSpend;

        public string User { get; } = user;

        public string Model { get; } = model;

        /// <summary>The tier of the user's key when the slice was made (for the spend metrics).</summary>
        public string? UserTier { get; } = userTier;

        /// <summary>The team the user's budget charges (the key's), null for their first.</summary>
        public string? Team { get; } = team;

        public SemaphoreSlim Refilling { get; } = new(1, 1);

        public int SliceRequests { get; private set; } = FirstSliceRequests;

        public DateTimeOffset? LeasedAt { get; private set; }

        public bool CanSpend(decimal cost, DateTimeOffset now)
        {
            lock (_lock)
            {
                return _lease != Guid.Empty && now < _expires - TimeSpan.FromSeconds(5) && _left >= cost && _requestsLeft >= 1;
            }
        }

        public Guid? TrySpend(decimal cost, DateTimeOffset now)
        {
            lock (_lock)
            {
                if (_lease == Guid.Empty || now >= _expires - TimeSpan.FromSeconds(5) || _left < cost || _requestsLeft < 1)
                {
                    return null;
                }

                (_left, _spent, _requestsLeft, _requests, _lastSpend) = (_left - cost, _spent + cost, _requestsLeft - 1, _requests + 1, now);
                return _lease;
            }
        }

        public void Refund(Guid lease, decimal cost)
        {
            lock (_lock)
            {
                if (lease == _lease && _spent >= cost && _requests > 0)
                {
                    (_left, _spent, _requestsLeft, _requests) = (_left + cost, _spent - cost, _requestsLeft + 1, _requests - 1);
                }
            }
        }

        public void Start(Guid lease, decimal amount, int requests, int sliceRequests, DateTimeOffset expires, DateTimeOffset now)
        {
            lock (_lock)
            {
                (_lease, _left, _requestsLeft, _spent, _requests, _expires, _lastSpend) = (lease, amount, requests, 0m, 0, expires, now);
                (SliceRequests, LeasedAt) = (sliceRequests, now);
            }
        }

        /// <summary>Ends the current lease here: what it paid for, to settle; null when there is none.</summary>
        public (Guid Lease, decimal Spent, int Requests)? Take()
        {
            lock (_lock)
            {
                if (_lease == Guid.Empty)
                {
                    return null;
                }

                var used = (_lease, _spent, _requests);
                (_lease, _left, _requestsLeft, _spent, _requests) = (Guid.Empty, 0m, 0, 0m, 0);
                return used;
            }
        }

        public bool IsIdleOrExpiring(DateTimeOffset now, TimeSpan idle, TimeSpan margin)
        {
            lock (_lock)
            {
                return _lease != Guid.Empty && (now - _lastSpend >= idle || now >= _expires - margin);
            }
        }
    }
}
