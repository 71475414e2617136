namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// A budget's open holds (the persisted dictionary, by reservation id), the dollars they hold, and the ones that expired
/// unsettled: those stop holding budget but can still be settled late for <paramref name="lateSettleWindow"/>.
/// </summary>
internal sealed class OpenHolds(Dictionary<Guid, HeldReservation> open, TimeSpan lateSettleWindow)
{
    private readonly Dictionary<Guid, HeldReservation> _expired = [];

    public int Count => open.Count;

    /// <summary>The dollars the open holds hold.</summary>
    public decimal Held { get; private set; } = open.Values.Sum(r => r.Cost);

    public void Open(Guid id, HeldReservation held)
    {
        open[id] = held;
        Held += held.Cost;
    }

    /// <summary>Closes an open hold without charging it (a hold that could not be saved, or one the ledger shows settled).</summary>
    public void Drop(Guid id)
    {
        if (open.Remove(id, out var held))
        {
            Held -= held.Cost;
        }
    }

    /// <summary>Moves an open hold's expiry to <paramref name="until"/>; false when it is not open.</summary>
    public bool TryRenew(Guid id, DateTimeOffset until)
    {
        if (!open.TryGetValue(id, out var held))
        {
            return false;
        }

        open[id] = held with { ExpiresAt = until };
        return true;
    }

    /// <summary>
    /// Takes a hold out to settle it: an open one (<c>Late</c> false), or one that expired within the late-settle window
    /// (<c>Late</c> true: its budget was released when it expired); null when neither.
    /// </summary>
    public (HeldReservation Held, bool Late)? Close(Guid id)
    {
        if (open.Remove(id, out var held))
        {
            Held -= held.Cost;
            return (held, false);
        }

        return _expired.Remove(id, out held) ? (held, true) : null;
    }

    /// <summary>Ends the holds past their time (they stop holding budget) and forgets expired ones past the late window; returns the newly expired.</summary>
    public IReadOnlyList<(Guid Id, HeldReservation Held)> ExpireDue(DateTimeOffset now)
    {
        if (open.Count == 0 && _expired.Count == 0)
        {
            return [];
        }

        var due = open.Where(r => r.Value.ExpiresAt <= now).Select(r => (r.Key, r.Value)).ToArray();
        foreach (var (id, held) in due)
        {
            open.Remove(id);
            Held -= held.Cost;
            _expired[id] = held;
        }

        foreach (var id in _expired.Where(r => r.Value.ExpiresAt + lateSettleWindow <= now).Select(r => r.Key).ToArray())
        {
            _expired.Remove(id);
        }

        return due;
    }
}
