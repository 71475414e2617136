using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.Concurrency;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// The single writer of one user's spend. Every check counts settled spend plus open reservations, and a check and
/// its reservation happen in one turn (no await between them), so no interleaving of concurrent calls can overspend.
/// Reentrant so that calls keep being checked while a write is in flight: writes are group-committed, each call
/// that changed state waits for the write that covers its change (ledger first, then state) and is answered only
/// then; a failed write refuses a reservation (fail closed). Refusals change nothing and are answered at once.
/// Requests-per-minute and tokens-per-minute are token buckets (System.Threading.RateLimiting) refilled
/// continuously; they live in the activation, so a restart refills them.
/// </summary>
[Reentrant]
internal sealed partial class UserBudgetGrain(
    [PersistentState("budget", AiFleetStorage.Name)] IPersistentState<UserBudgetState> state,
    ILedgerStore ledger,
    IOptions<BudgetOptions> options,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time,
    ILogger<UserBudgetGrain> logger) : Grain, IUserBudgetGrain
{
    private readonly Dictionary<(DateOnly Day, string Model), UsageRow> _usage = [];
    private readonly Dictionary<DateOnly, decimal> _dayTotals = [];
    private readonly Dictionary<Guid, HeldReservation> _expired = [];
    private readonly Dictionary<string, (ReserveResult Result, DateTimeOffset Until)> _answered = new(StringComparer.Ordinal);
    private const int MaxRemembered = 4096;
    private List<LedgerEntry> _unwritten = [];
    private decimal _reserved;
    private TokenBucketRateLimiter? _requests;
    private TokenBucketRateLimiter? _tokens;
    private TaskCompletionSource? _nextWrite;
    private Task? _writing;

    private string User => this.GetPrimaryKeyString();

    private BudgetLimits Limits => state.State.Limits ?? options.Value.Default;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var row in state.State.Usage)
        {
            Add(row);
        }

        _reserved = state.State.Open.Values.Sum(r => r.Cost);

        // A crash between the ledger append and the state write leaves entries past Sequence: take them in, so the
        // totals never disagree with the ledger.
        var today = Today();
        var recovered = 0;
        foreach (var day in new[] { state.State.LastLedgerDay, today }.Distinct())
        {
            foreach (var entry in (await ledger.ReadAsync(User, day)).Where(e => e.Sequence > state.State.Sequence).OrderBy(e => e.Sequence))
            {
                state.State.Open.Remove(entry.ReservationId, out var held);
                _reserved -= held?.Cost ?? 0;
                Apply(entry);
                state.State.Sequence = entry.Sequence;
                recovered++;
            }
        }

        if (recovered > 0)
        {
            LogRecovered(logger, User, recovered);
            await WriteAsync();
        }

        RebuildRateLimiters();
    }

    public Task<ReserveResult> AdmitFreeAsync()
    {
        if (_requests is not null && Available(_requests) < 1)
        {
            return Task.FromResult(ReserveResult.Refuse(BudgetLimitCodes.RequestsPerMinute,
                $"more than {Limits.RequestsPerMinute} requests per minute", RetryAfter(_requests, Limits.RequestsPerMinute, 1)));
        }

        _requests?.AttemptAcquire(1).Dispose();
        return Task.FromResult(new ReserveResult(Guid.Empty, time.GetUtcNow(), null, null, null));
    }

    public async Task<ReserveResult> ReserveAsync(ReserveRequest request)
    {
        if (request.Cost < 0 || request.Tokens < 0)
        {
            throw AiFleetException.Invalid($"a reservation needs a cost and tokens of zero or more (got {request.Cost} and {request.Tokens})");
        }

        var now = time.GetUtcNow();
        ExpireDue(now);
        if (request.RequestId is { } requestId && _answered.TryGetValue(requestId, out var earlier))
        {
            return earlier.Result; // the same request sent again: the same answer, never a second hold
        }

        if (Refusal(request.Cost, request.Tokens, permits: 1, now) is { } refused)
        {
            return refused;
        }

        _requests?.AttemptAcquire(1).Dispose();
        if (_tokens is not null && request.Tokens > 0)
        {
            _tokens.AttemptAcquire(request.Tokens).Dispose();
        }

        var granted = await HoldAsync(request.Model, request.Cost, request.Tokens, request.Ttl, now);
        if (request.RequestId is { } id)
        {
            Remember(id, granted, now);
        }

        return granted;
    }

    /// <summary>Recent granted requests by id, so a re-sent one is recognised (bounded; kept about a hold's TTL).</summary>
    private void Remember(string requestId, ReserveResult result, DateTimeOffset now)
    {
        if (_answered.Count >= MaxRemembered)
        {
            foreach (var stale in _answered.Where(a => a.Value.Until <= now).Select(a => a.Key).ToArray())
            {
                _answered.Remove(stale);
            }

            if (_answered.Count >= MaxRemembered)
            {
                _answered.Clear();
            }
        }

        _answered[requestId] = (result, now + options.Value.ReservationTtl);
    }

    public async Task<LeaseResult> LeaseAsync(LeaseRequest request)
    {
        if (request.UnitCost < 0 || request.Amount < request.UnitCost || request.Requests < 1)
        {
            throw AiFleetException.Invalid($"a lease needs a unit cost of zero or more, an amount of at least one unit and at least one request (got {request.UnitCost}, {request.Amount}, {request.Requests})");
        }

        var now = time.GetUtcNow();
        ExpireDue(now);
        if (Refusal(request.UnitCost, tokens: 0, permits: 1, now) is { } refused)
        {
            return new LeaseResult(refused, 0m, 0);
        }

        // As much of the slice as the caps and the per-minute limit leave, at least one unit of each.
        var amount = Math.Max(request.UnitCost, Math.Min(request.Amount, Headroom(now)));
        var permits = _requests is null ? request.Requests : Math.Clamp((int)Math.Min(Available(_requests), int.MaxValue), 1, request.Requests);
        _requests?.AttemptAcquire(permits).Dispose();
        return new LeaseResult(await HoldAsync(request.Model, amount, 0, request.Ttl, now), amount, permits);
    }

    /// <summary>The limit that refuses <paramref name="cost"/>, <paramref name="tokens"/> and <paramref name="permits"/> requests now, or null.</summary>
    private ReserveResult? Refusal(decimal cost, int tokens, int permits, DateTimeOffset now)
    {
        var limits = Limits;
        if (limits.PerRequest is { } perRequest && cost > perRequest)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.PerRequest, $"the request may cost up to ${cost}, above the per-request cap of ${perRequest}");
        }

        if (limits.MaxParallel is { } parallel && state.State.Open.Count >= parallel)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.MaxParallel, $"{parallel} requests are already running, the most allowed at once", TimeSpan.FromSeconds(1));
        }

        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var spentToday = _dayTotals.GetValueOrDefault(today);
        if (limits.Daily is { } daily && spentToday + _reserved + cost > daily)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.Daily,
                $"the daily cap of ${daily} would be exceeded (spent ${spentToday}, held ${_reserved}, this request up to ${cost})",
                UntilMidnight(now));
        }

        if (limits.Monthly is { } monthly)
        {
            var spentMonth = MonthTotal(today);
            if (spentMonth + _reserved + cost > monthly)
            {
                return ReserveResult.Refuse(BudgetLimitCodes.Monthly,
                    $"the monthly cap of ${monthly} would be exceeded (spent ${spentMonth}, held ${_reserved}, this request up to ${cost})",
                    UntilNextMonth(now));
            }
        }

        if (_requests is not null && Available(_requests) < permits)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.RequestsPerMinute, $"more than {limits.RequestsPerMinute} requests per minute", RetryAfter(_requests, limits.RequestsPerMinute, permits));
        }

        if (_tokens is not null && tokens > limits.TokensPerMinute)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.TokensPerMinute, $"the request may use {tokens} tokens, more than the {limits.TokensPerMinute} allowed per minute");
        }

        if (_tokens is not null && tokens > 0 && Available(_tokens) < tokens)
        {
            return ReserveResult.Refuse(BudgetLimitCodes.TokensPerMinute, $"more than {limits.TokensPerMinute} tokens per minute", RetryAfter(_tokens, limits.TokensPerMinute, tokens));
        }

        return null;
    }

    /// <summary>Opens a hold and makes it durable before granting it.</summary>
    private async Task<ReserveResult> HoldAsync(string model, decimal cost, int tokens, TimeSpan? ttl, DateTimeOffset now)
    {
        var id = Guid.NewGuid();
        var held = new HeldReservation(model, cost, tokens, now + (ttl ?? options.Value.ReservationTtl));
        state.State.Open[id] = held;
        _reserved += held.Cost;
        try
        {
            await WriteAsync();
        }
        catch (Exception e)
        {
            // Not durable, so not granted: the hold is dropped and the caller told to come back.
            if (state.State.Open.Remove(id))
            {
                _reserved -= held.Cost;
            }

            LogWriteFailed(logger, e, User);
            throw AiFleetException.StoreUnavailable($"the budget of user '{User}' could not be saved; nothing was reserved: {e.Message}");
        }

        return ReserveResult.Grant(id, held.ExpiresAt);
    }

    public async Task<DateTimeOffset?> RenewAsync(Guid reservationId, TimeSpan? ttl = null)
    {
        var now = time.GetUtcNow();
        ExpireDue(now);
        if (!state.State.Open.TryGetValue(reservationId, out var held))
        {
            return null;
        }

        var renewed = held with { ExpiresAt = now + (ttl ?? options.Value.ReservationTtl) };
        state.State.Open[reservationId] = renewed;
        await WriteAsync();
        return renewed.ExpiresAt;
    }

    public async Task<LedgerEntry?> SettleAsync(SettleRequest request)
    {
        if (request.Cost < 0 || request.Tokens < 0)
        {
            throw AiFleetException.Invalid($"a settlement needs a cost and tokens of zero or more (got {request.Cost} and {request.Tokens})");
        }

        var now = time.GetUtcNow();
        ExpireDue(now);
        var outcome = request.Outcome;
        decimal charge;
        if (state.State.Open.Remove(request.ReservationId, out var held))
        {
            _reserved -= held.Cost;
            charge = Math.Min(request.Cost, held.Cost);
        }
        else if (_expired.Remove(request.ReservationId, out held))
        {
            // Its budget was released when it expired and others may have taken it: charge no more than the caps
            // still allow, so a late settle can never push spend past them.
            charge = Math.Min(Math.Min(request.Cost, held.Cost), Headroom(now));
            outcome += charge < Math.Min(request.Cost, held.Cost)
                ? string.Create(CultureInfo.InvariantCulture, $" (settled after the reservation expired; capped at ${charge} by the spending caps)")
                : " (settled after the reservation expired)";
        }
        else
        {
            return null;
        }

        var entry = new LedgerEntry(++state.State.Sequence, now, request.ReservationId, held.Model, charge, request.Tokens, outcome, request.Requests);
        Apply(entry);
        _unwritten.Add(entry);
        try
        {
            await WriteAsync();
        }
        catch (Exception e)
        {
            // The charge stands in memory and the entry stays queued: the next write (or a retried settle) stores it.
            LogWriteFailed(logger, e, User);
            throw AiFleetException.StoreUnavailable($"the settlement for user '{User}' is recorded but not yet saved: {e.Message}");
        }

        return entry;
    }

    public async Task SetLimitsAsync(BudgetLimits limits)
    {
        if (limits.PerRequest < 0 || limits.Daily < 0 || limits.Monthly < 0 || limits.RequestsPerMinute < 1 || limits.TokensPerMinute < 1 || limits.MaxParallel < 1)
        {
            throw AiFleetException.Invalid("caps must be zero or more, and per-minute and parallel limits at least 1 (or unset)");
        }

        state.State.Limits = limits;
        RebuildRateLimiters();
        await WriteAsync();
    }

    public Task<BudgetStatus> GetStatusAsync()
    {
        var now = time.GetUtcNow();
        ExpireDue(now);
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        return Task.FromResult(new BudgetStatus(User, Limits, _dayTotals.GetValueOrDefault(today), MonthTotal(today), _reserved, state.State.Open.Count));
    }

    public Task<IReadOnlyList<UsageRow>> GetUsageAsync(DateOnly from, DateOnly to) =>
        Task.FromResult<IReadOnlyList<UsageRow>>(_usage.Values
            .Where(r => r.Day >= from && r.Day <= to)
            .OrderBy(r => r.Day).ThenBy(r => r.Model, StringComparer.Ordinal)
            .ToArray());

    public async Task<IReadOnlyList<LedgerEntry>> GetLedgerAsync(DateOnly from, DateOnly to)
    {
        if (to < from || to.DayNumber - from.DayNumber > 366)
        {
            throw AiFleetException.Invalid("a ledger range is at most 367 days, from before to");
        }

        var entries = new List<LedgerEntry>();
        for (var day = from; day <= to; day = day.AddDays(1))
        {
            entries.AddRange(await ledger.ReadAsync(User, day));
        }

        return entries;
    }

    /// <summary>
    /// Waits until a write that includes every change made so far has finished. Calls arriving while a write runs
    /// share the next one, so under concurrency one write covers many calls.
    /// </summary>
    private Task WriteAsync()
    {
        _nextWrite ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var mine = _nextWrite.Task;
        _writing ??= WriteLoopAsync();
        return mine;
    }

    private async Task WriteLoopAsync()
    {
        while (_nextWrite is { } done)
        {
            _nextWrite = null;
            var entries = _unwritten;
            _unwritten = [];
            try
            {
                if (entries.Count > 0)
                {
                    await ledger.AppendAsync(User, entries);
                    state.State.LastLedgerDay = DateOnly.FromDateTime(entries[^1].At.UtcDateTime);
                }

                state.State.Usage = _usage.Values.ToList();
                await state.WriteOwnStateAsync();
                done.SetResult();
            }
            catch (Exception e)
            {
                _unwritten.InsertRange(0, entries); // appends are idempotent: the next write repeats them
                done.SetException(e);
            }
        }

        _writing = null;
    }

    /// <summary>Reservations past their time stop holding budget; they can still be settled late for a while.</summary>
    private void ExpireDue(DateTimeOffset now)
    {
        if (state.State.Open.Count == 0 && _expired.Count == 0)
        {
            return;
        }

        foreach (var (id, held) in state.State.Open.Where(r => r.Value.ExpiresAt <= now).ToArray())
        {
            state.State.Open.Remove(id);
            _reserved -= held.Cost;
            _expired[id] = held;
            LogExpired(logger, User, id, held.Cost);
        }

        foreach (var id in _expired.Where(r => r.Value.ExpiresAt + options.Value.LateSettleWindow <= now).Select(r => r.Key).ToArray())
        {
            _expired.Remove(id);
        }
    }

    private void Apply(LedgerEntry entry)
    {
        var day = DateOnly.FromDateTime(entry.At.UtcDateTime);
        var row = _usage.GetValueOrDefault((day, entry.Model)) ?? new UsageRow(day, entry.Model, 0, 0, 0);
        Add(row with { Spend = entry.Cost, Tokens = entry.Tokens, Requests = entry.Requests });
        var oldest = day.AddDays(-options.Value.UsageRetentionDays);
        foreach (var key in _usage.Keys.Where(k => k.Day < oldest).ToArray())
        {
            _dayTotals.Remove(key.Day);
            _usage.Remove(key);
        }
    }

    /// <summary>Adds a row's amounts to the totals of its day and model.</summary>
    private void Add(UsageRow row)
    {
        var key = (row.Day, row.Model);
        var existing = _usage.GetValueOrDefault(key);
        _usage[key] = existing is null
            ? row
            : existing with { Spend = existing.Spend + row.Spend, Tokens = existing.Tokens + row.Tokens, Requests = existing.Requests + row.Requests };
        _dayTotals[row.Day] = _dayTotals.GetValueOrDefault(row.Day) + row.Spend;
    }

    /// <summary>What may still be charged now without passing the daily or monthly cap, open holds counted.</summary>
    private decimal Headroom(DateTimeOffset now)
    {
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var room = decimal.MaxValue;
        if (Limits.Daily is { } daily)
        {
            room = Math.Min(room, daily - _dayTotals.GetValueOrDefault(today) - _reserved);
        }

        if (Limits.Monthly is { } monthly)
        {
            room = Math.Min(room, monthly - MonthTotal(today) - _reserved);
        }

        return Math.Max(0m, room);
    }

    private decimal MonthTotal(DateOnly today)
    {
        var total = 0m;
        for (var day = new DateOnly(today.Year, today.Month, 1); day <= today; day = day.AddDays(1))
        {
            total += _dayTotals.GetValueOrDefault(day);
        }

        return total;
    }

    private void RebuildRateLimiters()
    {
        _requests?.Dispose();
        _tokens?.Dispose();
        _requests = Bucket(Limits.RequestsPerMinute);
        _tokens = Bucket(Limits.TokensPerMinute);
    }

    /// <summary>A bucket of <paramref name="perMinute"/> that refills continuously over a minute.</summary>
    private static TokenBucketRateLimiter? Bucket(int? perMinute) => perMinute is { } limit
        ? new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
        {
            TokenLimit = limit,
            TokensPerPeriod = limit,
            ReplenishmentPeriod = TimeSpan.FromMinutes(1),
            QueueLimit = 0,
            AutoReplenishment = false,
        })
        : null;

    /// <summary>Permits the bucket holds now, after refilling it for the time since it was last looked at.</summary>
    private static long Available(TokenBucketRateLimiter bucket)
    {
        bucket.TryReplenish();
        return bucket.GetStatistics()!.CurrentAvailablePermits;
    }

    /// <summary>When a bucket refilling <paramref name="perMinute"/> a minute will hold <paramref name="permits"/>.</summary>
    private static TimeSpan RetryAfter(TokenBucketRateLimiter bucket, int? perMinute, int permits) =>
        TimeSpan.FromSeconds(Math.Ceiling(Math.Max(1, (permits - Available(bucket)) / ((perMinute ?? 1) / 60.0))));

    private DateOnly Today() => DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);

    private static TimeSpan UntilMidnight(DateTimeOffset now) => now.UtcDateTime.Date.AddDays(1) - now.UtcDateTime;

    private static TimeSpan UntilNextMonth(DateTimeOffset now)
    {
        var d = now.UtcDateTime;
        return new DateTime(d.Year, d.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1) - d;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Budget of {User}: took in {Count} ledger entries written before a crash")]
    private static partial void LogRecovered(ILogger logger, string user, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Budget of {User} could not be saved")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string user);

    [LoggerMessage(Level = LogLevel.Information, Message = "Budget of {User}: reservation {Reservation} of ${Cost} expired unsettled and no longer holds budget")]
    private static partial void LogExpired(ILogger logger, string user, Guid reservation, decimal cost);
}
