using Microsoft.Extensions.Logging;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Tenancy;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// Slices of the parent budget: which parent a hold is charged to, topping a slice up (one parent call at a time per
/// parent, doubling while busy), and returning slices when idle, replaced or left (settled at the parent at what was
/// spent on them) or renewing them while holds drawn on them are open.
/// </summary>
internal sealed partial class UserBudgetGrain
{
    /// <summary>How long a slice lives at its parent unless renewed or grown.</summary>
    public static readonly TimeSpan SliceTtl = TimeSpan.FromSeconds(60);

    /// <summary>A slice with no open holds and no use for this long is returned to its parent.</summary>
    public static readonly TimeSpan IdleReturn = TimeSpan.FromSeconds(2);

    /// <summary>A parent's refusal of a top-up answers asks that are no smaller for this long, without asking again.</summary>
    private static readonly TimeSpan RefusalMemory = TimeSpan.FromMilliseconds(250);

    private const int MaxSliceRequests = 4096;

    private readonly Dictionary<string, SemaphoreSlim> _topUps = new(StringComparer.Ordinal);

    private readonly Dictionary<string, (ReserveResult Refusal, DateTimeOffset At, decimal UnitCost, int UnitTokens)> _refusedBy = new(StringComparer.Ordinal);

    private ParentSlices _slices = new([]);

    private IGrainTimer? _returns;

    public async Task SetParentsAsync(string? org, IReadOnlyList<string> teams)
    {
        if (Level != BudgetKeys.UserLevel)
        {
            throw AiFleetException.Invalid($"only a user's budget has parents to set; {BudgetKeys.Describe(Key)}'s follow from its key");
        }

        (state.State.Org, state.State.Teams, state.State.ParentsKnown) = (org, teams.ToList(), true);
        var parents = org is null ? [] : teams.Count == 0 ? [BudgetKeys.Org(org)] : teams.Select(t => BudgetKeys.Team(org, t)).ToHashSet(StringComparer.Ordinal);
        foreach (var slice in _slices.All.Where(s => !parents.Contains(s.Parent)))
        {
            slice.Closing = true; // no new holds; settled at the parent it belongs to once its open holds end
        }

        await WriteAsync();
        await ReturnIdleSlicesAsync(CancellationToken.None, closingOnly: true);
    }

    /// <summary>
    /// The budget this one's next hold is drawn on: a team's organization; a user's charged team (the one named, which
    /// must be one of theirs, else their first), or their organization when they are in no team; null for an
    /// organization and for a user outside any organization.
    /// </summary>
    private async ValueTask<string?> ParentAsync(string? team)
    {
        switch (Level)
        {
            case BudgetKeys.OrgLevel:
                return null;
            case BudgetKeys.TeamLevel:
                return BudgetKeys.TeamParent(Key);
        }

        if (!state.State.ParentsKnown)
        {
            // A budget made before tenancy, or before its user was saved: ask once, kept with the next write.
            var user = await GrainFactory.GetGrain<ITenantUserGrain>(Key).GetAsync();
            if (!state.State.ParentsKnown)
            {
                (state.State.Org, state.State.Teams, state.State.ParentsKnown) = (user?.Org, user?.Teams.ToList() ?? [], true);
            }
        }

        if (team is not null && !state.State.Teams.Contains(team))
        {
            throw AiFleetException.Forbidden($"user '{Key}' is not a member of team '{team}': nothing can be charged to it");
        }

        return state.State.Org is not { } org ? null
            : (team ?? state.State.Teams.FirstOrDefault()) is { } charged ? BudgetKeys.Team(org, charged)
            : BudgetKeys.Org(org);
    }

    /// <summary>
    /// Grows this budget's slice of <paramref name="parent"/> (or leases a new one) so it covers one unit of
    /// <paramref name="ask"/>; the parent's refusal when it cannot, else null. One call at a time per parent: callers
    /// that waited find the slice topped up. A slice asked for again within a second asks for twice as much.
    /// </summary>
    private async Task<ReserveResult?> TopUpAsync(string parent, HoldAsk ask)
    {
        if (!_topUps.TryGetValue(parent, out var gate))
        {
            _topUps[parent] = gate = new SemaphoreSlim(1, 1);
        }

        await gate.WaitAsync();
        try
        {
            var now = time.GetUtcNow();
            var slice = _slices.Current(parent, now);
            if (slice is not null && Covers(slice, ask))
            {
                return null; // topped up while this call waited
            }

            if (_refusedBy.TryGetValue(parent, out var last) && now - last.At < RefusalMemory && ask.UnitCost >= last.UnitCost && ask.UnitTokens >= last.UnitTokens)
            {
                return last.Refusal;
            }

            // The unit asked of the parent is what the slice lacks, not a whole one: the parent may have less than a unit
            // left and this slice the rest, and both together must still grant it.
            var (held, _, _) = slice is null ? default : _holds.On(slice.Lease);
            var lacking = slice is null ? ask.UnitCost : Math.Clamp(ask.UnitCost - slice.Free(held), 0m, ask.UnitCost);
            var lackingTokens = slice is null ? ask.UnitTokens : Math.Clamp(ask.UnitTokens - (slice.Tokens - slice.TokensUsed), 0, ask.UnitTokens);
            var busy = slice is not null && now - slice.ToppedUpAt < TimeSpan.FromSeconds(1);
            var requests = Math.Max(ask.Requests, busy ? Math.Min(slice!.LastAskRequests * 2, MaxSliceRequests) : 1);
            var amount = Math.Max(ask.Amount, busy ? Math.Min(slice!.LastAsk * 2, ask.UnitCost * MaxSliceRequests) : ask.UnitCost);
            var tokens = (int)Math.Min(Math.Max(ask.Tokens, (long)ask.UnitTokens * requests), int.MaxValue);
            var result = await GrainFactory.GetGrain<IUserBudgetGrain>(parent).LeaseAsync(new LeaseRequest(
                Key, lacking, amount, requests, SliceTtl, UnitTokens: lackingTokens, Tokens: tokens, Slots: Math.Max(1, ask.LeastSlots), Extend: slice?.Lease));
            now = time.GetUtcNow();
            if (!result.Hold.Granted)
            {
                _refusedBy[parent] = (result.Hold, now, ask.UnitCost, ask.UnitTokens);
                return result.Hold;
            }

            _refusedBy.Remove(parent);
            if (slice is not null && !slice.Closing && result.Hold.ReservationId == slice.Lease)
            {
                slice.Amount += result.Amount;
                slice.Requests += result.Requests;
                slice.Tokens += result.Tokens;
                slice.Slots = result.Slots is { } more ? (slice.Slots ?? 0) + more : null;
            }
            else
            {
                if (slice is not null)
                {
                    slice.Closing = true; // the parent let it expire: a new one takes over
                }

                slice = new ParentSlice
                {
                    Parent = parent,
                    Lease = result.Hold.ReservationId,
                    Amount = result.Amount,
                    Requests = result.Requests,
                    Tokens = result.Tokens,
                    Slots = result.Slots,
                    LastUsed = now,
                };
                _slices.Add(slice);
            }

            (slice.PerRequest, slice.PerRequestBy, slice.ExpiresAt) = (result.PerRequest, result.PerRequestBy, result.Hold.ExpiresAt);
            (slice.LastAsk, slice.LastAskRequests, slice.ToppedUpAt) = (amount, requests, now);
            StartReturningSlices();
            return null;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Checks the slices every second while there are any.</summary>
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

    /// <summary>Returns slices that are idle, closing or near their expiry with no open holds; renews those with open holds.</summary>
    private async Task ReturnOrRenewSlicesAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        ExpireDue(now);
        foreach (var slice in _slices.All.ToArray())
        {
            var open = _holds.On(slice.Lease).Count;
            if (open == 0 && (slice.Closing || now - slice.LastUsed >= IdleReturn || slice.ExpiresAt - now < SliceTtl / 4))
            {
                await ReturnAsync(slice);
            }
            else if (open > 0 && !slice.Returning && slice.ExpiresAt - now < SliceTtl / 2)
            {
                await RenewAsync(slice);
            }
        }

        if (_slices.Count == 0)
        {
            _returns?.Dispose();
            _returns = null;
        }
    }

    /// <summary>Returns the slices with no open holds (all of them, or only closing ones).</summary>
    private async Task ReturnIdleSlicesAsync(CancellationToken cancellationToken, bool closingOnly = false)
    {
        foreach (var slice in _slices.All.Where(s => (!closingOnly || s.Closing) && _holds.On(s.Lease).Count == 0).ToArray())
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return; // what is left is settled by the next activation, or expires at the parent
            }

            await ReturnAsync(slice);
        }
    }

    /// <summary>Settles a slice at its parent at what was spent on it, then forgets it; kept for the next try when the parent cannot be reached.</summary>
    private async Task ReturnAsync(ParentSlice slice)
    {
        if (slice.Returning)
        {
            return;
        }

        (slice.Closing, slice.Returning) = (true, true);
        try
        {
            await GrainFactory.GetGrain<IUserBudgetGrain>(slice.Parent).SettleAsync(new SettleRequest(
                slice.Lease, slice.Spent, (int)Math.Min(slice.TokensSpent, int.MaxValue), slice.Settled == 0 ? "slice returned unused" : "slice", slice.Settled));
        }
        catch (Exception e)
        {
            slice.Returning = false;
            LogSliceReturnFailed(logger, e, BudgetKeys.Describe(Key), BudgetKeys.Describe(slice.Parent));
            return;
        }

        _slices.Remove(slice);
        try
        {
            await WriteAsync();
        }
        catch (Exception e)
        {
            // Still listed in the stored state: a later write drops it, or the next activation settles it again (the parent answers nothing the second time).
            LogWriteFailed(logger, e, User);
        }
    }

    private async Task RenewAsync(ParentSlice slice)
    {
        try
        {
            if (await GrainFactory.GetGrain<IUserBudgetGrain>(slice.Parent).RenewAsync(slice.Lease, SliceTtl) is { } until)
            {
                slice.ExpiresAt = until;
            }
            else
            {
                slice.Closing = true; // expired at the parent: its holds settle into it, and it is settled there late
            }
        }
        catch (Exception e)
        {
            LogSliceReturnFailed(logger, e, BudgetKeys.Describe(Key), BudgetKeys.Describe(slice.Parent));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Budget of {Budget} could not settle or renew its slice of {Parent}; it is tried again, or expires there")]
    private static partial void LogSliceReturnFailed(ILogger logger, Exception error, string budget, string parent);
}
