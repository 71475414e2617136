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

    private readonly Dictionary<string, Task<ReserveResult>> _answering = new(StringComparer.Ordinal);

    /// <summary>This budget's key: a user id, or a team's or organization's <see cref="BudgetKeys"/> key.</summary>
    private string Key => this.GetPrimaryKeyString();

    private string User => Key;

    private string Level => BudgetKeys.Level(Key);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var row in state.State.Usage)
        {
            _usage.Add(row);
        }

        _holds = new OpenHolds(state.State.Open, options.Value.LateSettleWindow);
        // The configured default is a user's: a team or an organization with no limits set has none.
        _caps = new BudgetCaps(state.State.Limits ?? (Level == BudgetKeys.UserLevel ? options.Value.Default : BudgetLimits.None));
        _slices = new ParentSlices(state.State.Slices);

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
                if (_holds.Drop(entry.ReservationId)?.Slice is { } lease && _slices.Find(lease) is { } slice)
                {
                    slice.Spend(entry);
                }

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
        StartReturningSlices();
    }

    public async Task<ReserveResult> AdmitFreeAsync(string? team = null)
    {
        var parent = await ParentAsync(team);
        while (true)
        {
            var now = time.GetUtcNow();
            if (_caps.RequestsPerMinuteRefusal(permits: 1) is { } refused)
            {
                return Refused(refused);
            }

            // A cached answer takes a request permit at every level, so no level's requests-per-minute can be passed.
            if (parent is not null)
            {
                if (_slices.Current(parent, now) is not { } slice || !Covers(slice, HoldAsk.Free))
                {
                    if (await TopUpAsync(parent, HoldAsk.Free) is { } refusal)
                    {
                        return Refused(refusal);
                    }

                    continue;
                }

                slice.RequestsUsed++;
                slice.LastUsed = now;
            }

            _caps.Take(requests: 1, tokens: 0);
            return new ReserveResult(Guid.Empty, now, null, null, null);
        }
    }

    public async Task<ReserveResult> ReserveAsync(ReserveRequest request)
    {
        if (request.Cost < 0 || request.Tokens < 0)
        {
            throw AiFleetException.Invalid($"a reservation needs a cost and tokens of zero or more (got {request.Cost} and {request.Tokens})");
        }

        if (request.RequestId is not { } requestId)
        {
            return (await OpenAsync(HoldAsk.For(request))).Hold;
        }

        ExpireDue(time.GetUtcNow());
        if (_answered.TryGet(requestId, out var earlier))
        {
            return earlier; // the same request sent again: the same answer, never a second hold
        }

        if (_answering.TryGetValue(requestId, out var inFlight))
        {
            return await inFlight; // sent again while the first is still being answered
        }

        var answer = OpenAsync(HoldAsk.For(request));
        var hold = answer.ContinueWith(t => t.Result.Hold, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Current);
        _answering[requestId] = hold;
        try
        {
            var granted = await hold;
            var now = time.GetUtcNow();
            _answered.Remember(requestId, granted, now, now + options.Value.ReservationTtl);
            return granted;
        }
        finally
        {
            _answering.Remove(requestId);
        }
    }

    public async Task<LeaseResult> LeaseAsync(LeaseRequest request)
    {
        if (request.UnitCost < 0 || request.Amount < request.UnitCost || request.Requests < 1 || request.UnitTokens < 0
            || request.Tokens < request.UnitTokens || request.Slots < 1)
        {
            throw AiFleetException.Invalid($"a lease needs a unit cost of zero or more, an amount of at least one unit, at least one request and one slot, and tokens of at least one unit (got {request.UnitCost}, {request.Amount}, {request.Requests}, {request.Slots}, {request.UnitTokens}, {request.Tokens})");
        }

        if (Level != BudgetKeys.UserLevel)
        {
            metrics.ChildCall(Level, "lease");
        }

        return await OpenAsync(HoldAsk.For(request));
    }

    public async Task<LedgerEntry?> SettleAsync(SettleRequest request)
    {
        if (request.Cost < 0 || request.Tokens < 0)
        {
            throw AiFleetException.Invalid($"a settlement needs a cost and tokens of zero or more (got {request.Cost} and {request.Tokens})");
        }

        if (Level != BudgetKeys.UserLevel)
        {
            metrics.ChildCall(Level, "settle");
        }

        var now = time.GetUtcNow();
        ExpireDue(now);
        var outcome = request.Outcome;
        if (_holds.Close(request.ReservationId) is not var (held, late))
        {
            return null;
        }

        var charge = Math.Min(request.Cost, held.Cost);
        var slice = held.Slice is { } lease ? _slices.Find(lease) : null;
        if (late)
        {
            // Its budget was released when it expired and others may have taken it: charge no more than the caps
            // still allow here and no more than its parent slice still has, so a late settle can never push spend past
            // any level's caps.
            var room = _caps.Headroom(_holds.Held, _usage, now);
            if (held.Slice is not null)
            {
                room = Math.Min(room, slice is { Returning: false } ? Math.Max(0m, slice.Free(_holds.On(slice.Lease).Held)) : 0m);
            }

            charge = Math.Min(charge, room);
            outcome += charge < Math.Min(request.Cost, held.Cost)
                ? string.Create(CultureInfo.InvariantCulture, $" (settled after the reservation expired; capped at ${charge} by the spending caps)")
                : " (settled after the reservation expired)";
        }

        var entry = new LedgerEntry(++state.State.Sequence, now, request.ReservationId, held.Model, charge, request.Tokens, outcome, request.Requests);
        _usage.Apply(entry);
        if (slice is { Returning: false })
        {
            slice.Spend(entry);
            slice.LastUsed = now;
        }

        if (Level == BudgetKeys.UserLevel)
        {
            metrics.Spent(entry.Model, repository.Routing.Resolve(held.UserTier), entry.Cost); // once, where it is spent
        }

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

        if (slice is { Slots: not null } && _holds.On(slice.Lease).Count == 0)
        {
            // A parent with a parallel cap counts this slice's slots as running until it is returned: return it now.
            await ReturnAsync(slice);
        }

        return entry;
    }

    /// <summary>The limit of this budget that refuses the request now, named with this budget, or null.</summary>
    private ReserveResult? Refusal(decimal cost, int tokens, int slots, DateTimeOffset now) =>
        _caps.Refusal(cost, tokens, permits: 1, slots, _holds.Slots, _holds.Held, _usage, now) is { } refused ? Named(refused) : null;

    /// <summary>A refusal of this budget's own limits, naming it.</summary>
    private ReserveResult Named(ReserveResult refused) =>
        refused with { Budget = Key, Message = $"{BudgetKeys.Describe(Key)}: {refused.Message}" };

    /// <summary>A refusal answered here (this budget's or a parent's); a user's budget counts it, by the limit and the level that refused.</summary>
    private ReserveResult Refused(ReserveResult refused)
    {
        var named = refused.Budget is null ? Named(refused) : refused;
        if (Level == BudgetKeys.UserLevel)
        {
            metrics.Refused(named.RefusedBy, BudgetKeys.Level(named.Budget!)); // once per request, where it came in
        }

        return named;
    }

    private DateOnly Today() => DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);

    [LoggerMessage(Level = LogLevel.Information, Message = "Budget of {User}: reservation {Reservation} of ${Cost} expired unsettled and no longer holds budget")]
    private static partial void LogExpired(ILogger logger, string user, Guid reservation, decimal cost);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Budget of {User}: took in {Count} ledger entries written before a crash")]
    private static partial void LogRecovered(ILogger logger, string user, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Budget of {User} could not be saved")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string user);
}
