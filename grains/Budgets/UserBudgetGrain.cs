using System.Globalization;
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
    private readonly UsageTotals _usage = new(options.Value.UsageRetentionDays);

    private readonly AnsweredRequests _answered = new();

    private readonly CoalescedWrites _writes = new();

    // Both are made again from the persisted state in OnActivateAsync, before any call is served.
    private BudgetCaps _caps = new(BudgetLimits.None);

    private OpenHolds _holds = new([], TimeSpan.Zero);

    private List<LedgerEntry> _unwritten = [];

    private string User => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var row in state.State.Usage)
        {
            _usage.Add(row);
        }

        _holds = new OpenHolds(state.State.Open, options.Value.LateSettleWindow);
        _caps = new BudgetCaps(state.State.Limits ?? options.Value.Default);

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
                _holds.Drop(entry.ReservationId);
                _usage.Apply(entry);
                state.State.Sequence = entry.Sequence;
                recovered++;
            }
        }

        if (recovered > 0)
        {
            LogRecovered(logger, User, recovered);
            await WriteAsync();
        }

        CountOpenHolds();
    }

    public Task<ReserveResult> AdmitFreeAsync()
    {
        if (_caps.RequestsPerMinuteRefusal(permits: 1) is { } refused)
        {
            metrics.Refused(refused.RefusedBy);
            return Task.FromResult(refused);
        }

        _caps.Take(requests: 1, tokens: 0);
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
        if (request.RequestId is { } requestId && _answered.TryGet(requestId, out var earlier))
        {
            return earlier; // the same request sent again: the same answer, never a second hold
        }

        if (Refusal(request.Cost, request.Tokens, permits: 1, now) is { } refused)
        {
            return refused;
        }

        _caps.Take(requests: 1, request.Tokens);
        var granted = await HoldAsync(request.Model, request.Cost, request.Tokens, request.Ttl, request.UserTier, now);
        if (request.RequestId is { } id)
        {
            _answered.Remember(id, granted, now, now + options.Value.ReservationTtl);
        }

        return granted;
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
        var amount = Math.Max(request.UnitCost, Math.Min(request.Amount, _caps.Headroom(_holds.Held, _usage, now)));
        var permits = _caps.GrantablePermits(request.Requests);
        _caps.Take(permits, tokens: 0);
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
        if (_holds.Close(request.ReservationId) is not var (held, late))
        {
            return null;
        }

        var charge = Math.Min(request.Cost, held.Cost);
        if (late)
        {
            // Its budget was released when it expired and others may have taken it: charge no more than the caps
            // still allow, so a late settle can never push spend past them.
            charge = Math.Min(charge, _caps.Headroom(_holds.Held, _usage, now));
            outcome += charge < Math.Min(request.Cost, held.Cost)
                ? string.Create(CultureInfo.InvariantCulture, $" (settled after the reservation expired; capped at ${charge} by the spending caps)")
                : " (settled after the reservation expired)";
        }

        var entry = new LedgerEntry(++state.State.Sequence, now, request.ReservationId, held.Model, charge, request.Tokens, outcome, request.Requests);
        _usage.Apply(entry);
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

    /// <summary>The limit that refuses the request now, or null; counted by limit.</summary>
    private ReserveResult? Refusal(decimal cost, int tokens, int permits, DateTimeOffset now)
    {
        var refused = _caps.Refusal(cost, tokens, permits, _holds.Count, _holds.Held, _usage, now);
        if (refused is not null)
        {
            metrics.Refused(refused.RefusedBy);
        }

        return refused;
    }

    private DateOnly Today() => DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);

    [LoggerMessage(Level = LogLevel.Information, Message = "Budget of {User}: reservation {Reservation} of ${Cost} expired unsettled and no longer holds budget")]
    private static partial void LogExpired(ILogger logger, string user, Guid reservation, decimal cost);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Budget of {User}: took in {Count} ledger entries written before a crash")]
    private static partial void LogRecovered(ILogger logger, string user, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Budget of {User} could not be saved")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string user);
}
