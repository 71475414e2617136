namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// A budget's open holds (the persisted dictionary, by reservation id), the dollars and requests-at-once they hold in
/// all and per parent slice, and the ones that expired unsettled: those stop holding budget but can still be settled
/// late for a window after.
/// </summary>
internal sealed class OpenHolds
{
    private readonly Dictionary<Guid, HeldReservation> _open;
    private readonly TimeSpan _lateSettleWindow;
    private readonly Dictionary<Guid, HeldReservation> _expired = [];
    private readonly Dictionary<Guid, (decimal Held, int Slots, int Count)> _onSlice = [];

    public OpenHolds(Dictionary<Guid, HeldReservation> open, TimeSpan lateSettleWindow)
    {
        (_open, _lateSettleWindow) = (open, lateSettleWindow);
        foreach (var held in open.Values)
        {
            Tally(held, +1);
        }
    }

    public int Count => _open.Count;

    /// <summary>The dollars the open holds hold.</summary>
    public decimal Held { get; private set; }

    /// <summary>The requests at once the open holds may run (one each, a lease its slots).</summary>
    public int Slots { get; private set; }

    /// <summary>What the open holds drawn on the parent slice <paramref name="lease"/> hold.</summary>
    public (decimal Held, int Slots, int Count) On(Guid lease) => _onSlice.GetValueOrDefault(lease);

    public HeldReservation? Get(Guid id) => _open.GetValueOrDefault(id);

    public void Open(Guid id, HeldReservation held)
    {
        _open[id] = held;
        Tally(held, +1);
    }

    /// <summary>
    /// Opens a hold of <paramref name="held"/>, or grows the open hold <paramref name="extend"/> names by its cost and
    /// slots when it is drawn on the same slice; its id, and how to undo it (a hold that could not be saved).
    /// </summary>
    public (Guid Id, Action Undo) OpenOrGrow(Guid? extend, HeldReservation held)
    {
        if (extend is { } id && Get(id) is { } existing && existing.Slice == held.Slice)
        {
            Extend(id, held.Cost, held.Slots, held.ExpiresAt);
            return (id, () => Extend(id, -held.Cost, -held.Slots, existing.ExpiresAt));
        }

        var fresh = Guid.NewGuid();
        Open(fresh, held);
        return (fresh, () => Drop(fresh));
    }

    /// <summary>Grows an open hold by <paramref name="cost"/> dollars and <paramref name="slots"/> requests at once, open until <paramref name="until"/>.</summary>
    public void Extend(Guid id, decimal cost, int slots, DateTimeOffset until)
    {
        var held = _open[id];
        Tally(held, -1);
        _open[id] = held with { Cost = held.Cost + cost, Slots = held.Slots + slots, ExpiresAt = until };
        Tally(_open[id], +1);
    }

    /// <summary>Closes an open hold without charging it (a hold that could not be saved, or one the ledger shows settled).</summary>
    public HeldReservation? Drop(Guid id)
    {
        if (!_open.Remove(id, out var held))
        {
            return null;
        }

        Tally(held, -1);
        return held;
    }

    /// <summary>Moves an open hold's expiry to <paramref name="until"/>; false when it is not open.</summary>
    public bool TryRenew(Guid id, DateTimeOffset until)
    {
        if (!_open.TryGetValue(id, out var held))
        {
            return false;
        }

        _open[id] = held with { ExpiresAt = until };
        return true;
    }

    /// <summary>
    /// Takes a hold out to settle it: an open one (<c>Late</c> false), or one that expired within the late-settle window
    /// (<c>Late</c> true: its budget was released when it expired); null when neither.
    /// </summary>
    public (HeldReservation Held, bool Late)? Close(Guid id)
    {
        if (_open.Remove(id, out var held))
        {
            Tally(held, -1);
            return (held, false);
        }

        return _expired.Remove(id, out held) ? (held, true) : null;
    }

    /// <summary>Ends the holds past their time (they stop holding budget) and forgets expired ones past the late window; returns the newly expired.</summary>
    public IReadOnlyList<(Guid Id, HeldReservation Held)> ExpireDue(DateTimeOffset now)
    {
        if (_open.Count == 0 && _expired.Count == 0)
        {
            return [];
        }

        var due = _open.Where(r => r.Value.ExpiresAt <= now).Select(r => (r.Key, r.Value)).ToArray();
        foreach (var (id, held) in due)
        {
            _open.Remove(id);
            Tally(held, -1);
            _expired[id] = held;
        }

        foreach (var id in _expired.Where(r => r.Value.ExpiresAt + _lateSettleWindow <= now).Select(r => r.Key).ToArray())
        {
            _expired.Remove(id);
        }

        return due;
    }

    private void Tally(HeldReservation held, int sign)
    {
        Held += sign * held.Cost;
        Slots += sign * held.Slots;
        if (held.Slice is not { } lease)
        {
            return;
        }

        var (money, slots, count) = _onSlice.GetValueOrDefault(lease);
        (money, slots, count) = (money + sign * held.Cost, slots + sign * held.Slots, count + sign);
        if (count == 0)
        {
            _onSlice.Remove(lease);
        }
        else
        {
            _onSlice[lease] = (money, slots, count);
        }
    }
}
