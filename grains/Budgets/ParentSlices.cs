using Microsoft.Extensions.Logging;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// A budget's slices of its parents (the persisted list): at most one current slice per parent, which new holds are
/// drawn on, and closing ones, returned once their open holds end. Tops a slice up (one parent call at a time per
/// parent, asking for what the slice lacks, doubling while busy), returns slices when idle, closing or near their
/// expiry (settled at the parent at what was spent on them), and renews those with open holds.
/// </summary>
internal sealed partial class ParentSlices(
    List<ParentSlice> slices, string key, OpenHolds holds, IGrainFactory grains, TimeProvider time, Func<Task> write, ILogger logger)
{
    /// <summary>How long a slice lives at its parent unless renewed or grown.</summary>
    public static readonly TimeSpan SliceTtl = TimeSpan.FromSeconds(60);

    /// <summary>A slice with no open holds and no use for this long is returned to its parent.</summary>
    public static readonly TimeSpan IdleReturn = TimeSpan.FromSeconds(2);

    /// <summary>A slice this close to its expiry at the parent takes no new holds: a fresh one is leased instead.</summary>
    public static readonly TimeSpan NearExpiry = TimeSpan.FromSeconds(5);

    /// <summary>A parent's refusal of a top-up answers asks that are no smaller for this long, without asking again.</summary>
    private static readonly TimeSpan RefusalMemory = TimeSpan.FromMilliseconds(250);

    private const int MaxSliceRequests = 4096;

    private readonly Dictionary<string, SemaphoreSlim> _topUps = new(StringComparer.Ordinal);

    private readonly Dictionary<string, (ReserveResult Refusal, DateTimeOffset At, decimal UnitCost, int UnitTokens)> _refusedBy = new(StringComparer.Ordinal);

    public int Count => slices.Count;

    public ParentSlice? Find(Guid lease) => slices.Find(s => s.Lease == lease);

    /// <summary>The slice of <paramref name="parent"/> new holds are drawn on, or null; one near its expiry is closed instead.</summary>
    public ParentSlice? Current(string parent, DateTimeOffset now)
    {
        foreach (var slice in slices)
        {
            if (slice.Closing || slice.Parent != parent)
            {
                continue;
            }

            if (slice.ExpiresAt - now < NearExpiry)
            {
                slice.Closing = true;
                continue;
            }

            return slice;
        }

        return null;
    }

    /// <summary>Closes the slices of parents not in <paramref name="parents"/>: no new holds; returned once their open holds end.</summary>
    public void CloseAllBut(IReadOnlySet<string> parents)
    {
        foreach (var slice in slices.Where(s => !parents.Contains(s.Parent)))
        {
            slice.Closing = true;
        }
    }

    /// <summary>
    /// Grows the slice of <paramref name="parent"/> (or leases a new one) so it covers one unit of <paramref name="ask"/>;
    /// the parent's refusal when it cannot, else null. Callers that waited for another's top-up find the slice grown.
    /// </summary>
    public async Task<ReserveResult?> TopUpAsync(string parent, HoldAsk ask)
    {
        var gate = Gate(parent);
        await gate.WaitAsync();
        try
        {
            var now = time.GetUtcNow();
            var slice = Current(parent, now);
            if (slice is not null && slice.Covers(ask, holds.On(slice.Lease)))
            {
                return null; // topped up while this call waited
            }

            if (_refusedBy.TryGetValue(parent, out var last) && now - last.At < RefusalMemory && ask.UnitCost >= last.UnitCost && ask.UnitTokens >= last.UnitTokens)
            {
                return last.Refusal;
            }

            var result = await grains.GetGrain<IUserBudgetGrain>(parent).LeaseAsync(Ask(ask, slice, now, out var amount, out var requests));
            now = time.GetUtcNow();
            if (!result.Hold.Granted)
            {
                _refusedBy[parent] = (result.Hold, now, ask.UnitCost, ask.UnitTokens);
                return result.Hold;
            }

            _refusedBy.Remove(parent);
            slice = Take(parent, slice, result, now);
            (slice.PerRequest, slice.PerRequestBy, slice.ExpiresAt) = (result.PerRequest, result.PerRequestBy, result.Hold.ExpiresAt);
            (slice.LastAsk, slice.LastAskRequests, slice.ToppedUpAt) = (amount, requests, now);
            return null;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Returns slices that are idle, closing or near their expiry with no open holds; renews those with open holds.</summary>
    public async Task ReturnOrRenewAsync()
    {
        var now = time.GetUtcNow();
        foreach (var slice in slices.ToArray())
        {
            var open = holds.On(slice.Lease).Count;
            if (open == 0 && (slice.Closing || now - slice.LastUsed >= IdleReturn || slice.ExpiresAt - now < SliceTtl / 4))
            {
                await ReturnAsync(slice);
            }
            else if (open > 0 && !slice.Returning && slice.ExpiresAt - now < SliceTtl / 2)
            {
                await RenewAsync(slice);
            }
        }
    }

    /// <summary>Returns the slices with no open holds (all of them, or only closing ones).</summary>
    public async Task ReturnIdleAsync(bool closingOnly, CancellationToken cancellationToken)
    {
        foreach (var slice in slices.Where(s => (!closingOnly || s.Closing) && holds.On(s.Lease).Count == 0).ToArray())
        {
            if (cancellationToken.IsCancellationRequested)
            {
                return; // what is left is settled by the next activation, or expires at the parent
            }

            await ReturnAsync(slice);
        }
    }

    /// <summary>
    /// Settles a slice at its parent at what was spent on it, then forgets it; kept for the next try when the parent cannot
    /// be reached. Never while a top-up of the same parent is in flight: a growth the parent granted after the slice was
    /// settled there would be spent on a lease that no longer exists, and never reach the parent's ledger.
    /// </summary>
    public async Task ReturnAsync(ParentSlice slice)
    {
        if (slice.Returning)
        {
            return;
        }

        slice.Closing = true; // no new holds from here on
        var gate = Gate(slice.Parent);
        await gate.WaitAsync();
        try
        {
            if (slice.Returning || !slices.Contains(slice) || holds.On(slice.Lease).Count > 0)
            {
                return; // returned meanwhile, or a hold drawn on it before it closed is still open: returned when it ends
            }

            slice.Returning = true;
            try
            {
                await grains.GetGrain<IUserBudgetGrain>(slice.Parent).SettleAsync(new SettleRequest(
                    slice.Lease, slice.Spent, (int)Math.Min(slice.TokensSpent, int.MaxValue), slice.Settled == 0 ? "slice returned unused" : "slice", slice.Settled));
            }
            catch (Exception e)
            {
                slice.Returning = false;
                LogParentUnreachable(logger, e, BudgetKeys.Describe(key), BudgetKeys.Describe(slice.Parent));
                return;
            }

            slices.Remove(slice);
        }
        finally
        {
            gate.Release();
        }

        try
        {
            await write();
        }
        catch (Exception e)
        {
            // Still listed in the stored state: a later write drops it, or the next activation settles it again (the parent answers nothing the second time).
            LogNotSaved(logger, e, BudgetKeys.Describe(key));
        }
    }

    /// <summary>
    /// The lease to ask the parent for: its unit is what the slice lacks, not a whole one (the parent may have less than a
    /// unit left and this slice the rest, and both together must still grant it); twice the last ask when asked again
    /// within a second.
    /// </summary>
    private LeaseRequest Ask(HoldAsk ask, ParentSlice? slice, DateTimeOffset now, out decimal amount, out int requests)
    {
        var held = slice is null ? 0m : holds.On(slice.Lease).Held;
        var lacking = slice is null ? ask.UnitCost : Math.Clamp(ask.UnitCost - slice.Free(held), 0m, ask.UnitCost);
        var lackingTokens = slice is null ? ask.UnitTokens : Math.Clamp(ask.UnitTokens - (slice.Tokens - slice.TokensUsed), 0, ask.UnitTokens);
        var busy = slice is not null && now - slice.ToppedUpAt < TimeSpan.FromSeconds(1);
        requests = Math.Max(ask.Requests, busy ? Math.Min(slice!.LastAskRequests * 2, MaxSliceRequests) : 1);
        amount = Math.Max(ask.Amount, busy ? Math.Min(slice!.LastAsk * 2, ask.UnitCost * MaxSliceRequests) : ask.UnitCost);
        var tokens = (int)Math.Min(Math.Max(ask.Tokens, (long)ask.UnitTokens * requests), int.MaxValue);
        return new LeaseRequest(key, lacking, amount, requests, SliceTtl, UnitTokens: lackingTokens, Tokens: tokens, Slots: Math.Max(1, ask.LeastSlots), Extend: slice?.Lease);
    }

    /// <summary>
    /// Adds what the parent granted: to the slice when it grew it (even one closed meanwhile: the growth belongs to its
    /// lease, and goes back with it), else as a new slice (the old one, let expire there, closes).
    /// </summary>
    private ParentSlice Take(string parent, ParentSlice? slice, LeaseResult result, DateTimeOffset now)
    {
        if (slice is not null && result.Hold.ReservationId == slice.Lease)
        {
            slice.Amount += result.Amount;
            slice.Requests += result.Requests;
            slice.Tokens += result.Tokens;
            slice.Slots = result.Slots is { } more ? (slice.Slots ?? 0) + more : null;
            return slice;
        }

        if (slice is not null)
        {
            slice.Closing = true;
        }

        var fresh = new ParentSlice
        {
            Parent = parent,
            Lease = result.Hold.ReservationId,
            Amount = result.Amount,
            Requests = result.Requests,
            Tokens = result.Tokens,
            Slots = result.Slots,
            LastUsed = now,
        };
        slices.Add(fresh);
        return fresh;
    }

    private SemaphoreSlim Gate(string parent)
    {
        if (!_topUps.TryGetValue(parent, out var gate))
        {
            _topUps[parent] = gate = new SemaphoreSlim(1, 1);
        }

        return gate;
    }

    private async Task RenewAsync(ParentSlice slice)
    {
        try
        {
            if (await grains.GetGrain<IUserBudgetGrain>(slice.Parent).RenewAsync(slice.Lease, SliceTtl) is { } until)
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
            LogParentUnreachable(logger, e, BudgetKeys.Describe(key), BudgetKeys.Describe(slice.Parent));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Budget of {Budget} could not settle or renew its slice of {Parent}; it is tried again, or expires there")]
    private static partial void LogParentUnreachable(ILogger logger, Exception error, string budget, string parent);

    [LoggerMessage(Level = LogLevel.Error, Message = "Budget of {Budget} could not be saved after returning a slice")]
    private static partial void LogNotSaved(ILogger logger, Exception error, string budget);
}
