using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// The answers a model gave, by (user, request id), for feedback: at most <c>capacity</c> of them (the oldest go
/// first) and none older than <c>ttl</c>. An answer judged once is kept as judged, so feedback counts once. Keys are per
/// user: one user cannot judge another's answers, and two users' ids never collide. Not thread-safe (a grain's).
/// </summary>
internal sealed class PredictionMemory(int capacity, TimeSpan ttl, TimeProvider time)
{
    private readonly Dictionary<(string User, string Id), (PredictionRecord Record, DateTimeOffset At, bool Judged)> _byId = [];
    private readonly Queue<((string User, string Id) Key, DateTimeOffset At)> _order = new();

    public int Count => _byId.Count;

    public void Add(PredictionRecord record)
    {
        var now = time.GetUtcNow();
        _byId[(record.User, record.RequestId)] = (record, now, false);
        _order.Enqueue(((record.User, record.RequestId), now));
        Evict(now);
    }

    /// <summary>
    /// The answer, marked judged from now on; null when unknown or expired (<paramref name="judged"/> false) or judged
    /// already (true).
    /// </summary>
    public PredictionRecord? Take(string user, string id, out bool judged)
    {
        Evict(time.GetUtcNow());
        if (!_byId.TryGetValue((user, id), out var entry) || entry.Judged)
        {
            judged = entry.Judged;
            return null;
        }

        judged = false;
        _byId[(user, id)] = entry with { Judged = true };
        return entry.Record;
    }

    /// <summary>Makes an answer judgeable again (its feedback was refused).</summary>
    public void Restore(PredictionRecord record)
    {
        if (_byId.TryGetValue((record.User, record.RequestId), out var entry))
        {
            _byId[(record.User, record.RequestId)] = entry with { Judged = false };
        }
    }

    private void Evict(DateTimeOffset now)
    {
        while (_order.TryPeek(out var oldest) && (_order.Count > capacity || now - oldest.At > ttl || !IsCurrent(oldest)))
        {
            _order.Dequeue();
            if (IsCurrent(oldest))
            {
                _byId.Remove(oldest.Key);
            }
        }
    }

    /// <summary>False for a queue entry whose answer was replaced by a later one with the same id.</summary>
    private bool IsCurrent(((string User, string Id) Key, DateTimeOffset At) entry) =>
        _byId.TryGetValue(entry.Key, out var held) && held.At == entry.At;
}
