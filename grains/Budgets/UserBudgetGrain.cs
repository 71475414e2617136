using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Models;
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
    BudgetMetrics metrics,
    ModelRepository repository,
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

    private bool _writing;

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
            IReadOnlyList<LedgerEntry> entries;
            try
            {
                entries = await ledger.ReadAsync(User, day);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Without the ledger the totals cannot be trusted: refuse (fail closed) and let the caller retry.
                metrics.StoreFailed("ledger_read");
                throw AiFleetException.StoreUnavailable($"the ledger of user '{User}' could not be read; nothing was reserved: {e.Message}");
            }

            foreach (var entry in entries.Where(e => e.Sequence > state.State.Sequence).OrderBy(e => e.Sequence))
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
        CountOpenHolds();
    }

    public Task<ReserveResult> AdmitFreeAsync()
    {
        if (RequestsPerMinuteRefusal(permits: 1) is { } refused)
        {
            metrics.Refused(refused.RefusedBy);
            return Task.FromResult(refused);
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

        var granted = await HoldAsync(request.Model, request.Cost, request.Tokens, request.Ttl, request.UserTier, now);
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
        return new LeaseResult(await HoldAsync(request.Model, amount, 0, request.Ttl, request.UserTier, now), amount, permits);
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
        metrics.Spent(entry.Model, repository.Routing.Resolve(held.UserTier), entry.Cost);
        CountOpenHolds();
        _unwritten.Add(entry);
        try
        {
            await WriteAsync();
        }
        catch (Exception e)
        {
            // The charge stands in memory and the entry stays queued: the next write (or a retried settle) stores it.
            LogWriteFailed(logger, e, User);
            metrics.StoreFailed("settle_write");
            throw AiFleetException.StoreUnavailable($"the settlement for user '{User}' is recorded but not yet saved: {e.Message}");
        }

        return entry;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Budget of {User}: took in {Count} ledger entries written before a crash")]
    private static partial void LogRecovered(ILogger logger, string user, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Budget of {User} could not be saved")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string user);
}
