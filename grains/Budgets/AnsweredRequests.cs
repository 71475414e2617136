using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// Recent grants by request id, so a request sent again (a client re-sending after a gateway dropped) gets its first
/// answer, not a second hold. Bounded: past <see cref="MaxRemembered"/> the stale ones go, then all of them.
/// </summary>
internal sealed class AnsweredRequests
{
    public const int MaxRemembered = 4096;

    private readonly Dictionary<string, (ReserveResult Result, DateTimeOffset Until)> _answered = new(StringComparer.Ordinal);

    public bool TryGet(string requestId, out ReserveResult result)
    {
        var found = _answered.TryGetValue(requestId, out var answer);
        result = answer.Result;
        return found;
    }

    /// <summary>Remembers <paramref name="result"/> for <paramref name="requestId"/> until <paramref name="until"/> (about a hold's time to live).</summary>
    public void Remember(string requestId, ReserveResult result, DateTimeOffset now, DateTimeOffset until)
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

        _answered[requestId] = (result, until);
    }
}
