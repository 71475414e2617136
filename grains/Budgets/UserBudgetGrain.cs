using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Models;
using Orleans.Concurrency;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// The single writer of one budget's spend: a user's, a team's or an organization's (<see cref="BudgetKeys"/>). Every
/// check counts settled spend plus open reservations, and a check and its reservation happen in one turn (no await
/// between them, <see cref="HoldAdmission"/>), so no interleaving of concurrent calls can overspend; a budget with a
/// parent grants only inside its slice of the parent's (<see cref="ParentSlices"/>), so no level can be overspent.
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

    private readonly AnsweredRequests _answered = new(time, options.Value.ReservationTtl);

    // Made from the persisted state in OnActivateAsync, before any call is served.
    private BudgetCaps _caps = null!;

    private OpenHolds _holds = null!;

    private ParentSlices _slices = null!;

    private HoldAdmission _admission = null!;

    private BudgetBook _book = null!;

    /// <summary>This budget's key: a user id, or a team's or organization's <see cref="BudgetKeys"/> key.</summary>
    private string Key => this.GetPrimaryKeyString();

    private string Level => BudgetKeys.Level(Key);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var row in state.State.Usage)
        {
            _usage.Add(row);
        }

        _book = new BudgetBook(state, ledger, Key, _usage);
        _holds = new OpenHolds(state.State.Open, options.Value.LateSettleWindow);
        // The configured default is a user's: a team or an organization with no limits set has none.
        _caps = new BudgetCaps(state.State.Limits ?? (Level == BudgetKeys.UserLevel ? options.Value.Default : BudgetLimits.None));
        _slices = new ParentSlices(state.State.Slices, Key, _holds, GrainFactory, time, _book.WriteAsync, logger);
        _admission = new HoldAdmission(Key, _caps, _holds, _usage, _slices);

        int recovered;
        try
        {
            recovered = await _book.RecoverAsync(_holds, _slices, DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Without the ledger the totals cannot be trusted: refuse (fail closed) and let the caller retry.
            metrics.StoreFailed("ledger_read");
            throw AiFleetException.StoreUnavailable($"the ledger of {BudgetKeys.Describe(Key)} could not be read; nothing was reserved: {e.Message}");
        }

        if (recovered > 0)
        {
            LogRecovered(logger, Key, recovered);
            await WriteAsync();
        }

        CountOpenHolds();
        StartReturningSlices();
    }

    public async Task<ReserveResult> AdmitFreeAsync(string? team = null) => (await OpenAsync(HoldAsk.Free(team))).Hold;

    public async Task<ReserveResult> ReserveAsync(ReserveRequest request)
    {
        if (request.Cost < 0 || request.Tokens < 0)
        {
            throw AiFleetException.Invalid($"a reservation needs a cost and tokens of zero or more (got {request.Cost} and {request.Tokens})");
        }

        // The same request sent again gets the same answer, never a second hold.
        return request.RequestId is { } requestId
            ? await _answered.OnceAsync(requestId, async () => (await OpenAsync(HoldAsk.For(request))).Hold)
            : (await OpenAsync(HoldAsk.For(request))).Hold;
    }

    public async Task<LeaseResult> LeaseAsync(LeaseRequest request)
    {
        if (request.UnitCost < 0 || request.Amount < request.UnitCost || request.Requests < 1 || request.UnitTokens < 0
            || request.Tokens < request.UnitTokens || request.Slots < 1)
        {
            throw AiFleetException.Invalid($"a lease needs a unit cost of zero or more, an amount of at least one unit, at least one request and one slot, and tokens of at least one unit (got {request.UnitCost}, {request.Amount}, {request.Requests}, {request.Slots}, {request.UnitTokens}, {request.Tokens})");
        }

        CountChildCall("lease");
        return await OpenAsync(HoldAsk.For(request));
    }

    public async Task<LedgerEntry?> SettleAsync(SettleRequest request)
    {
        if (request.Cost < 0 || request.Tokens < 0)
        {
            throw AiFleetException.Invalid($"a settlement needs a cost and tokens of zero or more (got {request.Cost} and {request.Tokens})");
        }

        CountChildCall("settle");
        var now = time.GetUtcNow();
        ExpireDue(now);
        if (_holds.Close(request.ReservationId) is not var (held, late))
        {
            return null;
        }

        var slice = held.Slice is { } lease ? _slices.Find(lease) : null;
        var (charge, outcome) = _admission.Charge(held, late, request.Cost, request.Outcome, slice, now);
        var entry = _book.Settle(now, request.ReservationId, held.Model, charge, request.Tokens, outcome, request.Requests);
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
        try
        {
            await WriteAsync();
        }
        catch (Exception e)
        {
            // The charge stands in memory and the entry stays queued: the next write (or a retried settle) stores it.
            LogWriteFailed(logger, e, Key);
            metrics.StoreFailed("settle_write");
            throw AiFleetException.StoreUnavailable($"the settlement for {BudgetKeys.Describe(Key)} is recorded but not yet saved: {e.Message}");
        }

        if (slice is { Slots: not null } && _holds.On(slice.Lease).Count == 0)
        {
            // A parent with a parallel cap counts this slice's slots as running until it is returned: return it now.
            await _slices.ReturnAsync(slice);
        }

        return entry;
    }

    /// <summary>A refusal answered here (this budget's or a parent's); a user's budget counts it, by the limit and the level that refused.</summary>
    private ReserveResult Refused(ReserveResult refused)
    {
        var named = _admission.Named(refused);
        if (Level == BudgetKeys.UserLevel)
        {
            metrics.Refused(named.RefusedBy, BudgetKeys.Level(named.Budget!)); // once per request, where it came in
        }

        return named;
    }

    /// <summary>A team's or organization's budget counts the calls its children's slices make.</summary>
    private void CountChildCall(string call)
    {
        if (Level != BudgetKeys.UserLevel)
        {
            metrics.ChildCall(Level, call);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Budget of {User}: reservation {Reservation} of ${Cost} expired unsettled and no longer holds budget")]
    private static partial void LogExpired(ILogger logger, string user, Guid reservation, decimal cost);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Budget of {User}: took in {Count} ledger entries written before a crash")]
    private static partial void LogRecovered(ILogger logger, string user, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Budget of {User} could not be saved")]
    private static partial void LogWriteFailed(ILogger logger, Exception error, string user);
}
