using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// Grants by request id, so a request sent again (a client re-sending after a gateway dropped) gets its first answer,
/// not a second hold: while the first is still being answered, and for <paramref name="remember"/> after (about a hold's
/// time to live). Bounded: past <see cref="MaxRemembered"/> the stale ones go, then all of them.
/// Not thread-safe: for one grain activation's turns.
/// </summary>
internal sealed class AnsweredRequests(TimeProvider time, TimeSpan remember)
{
    public const int MaxRemembered = 4096;

    private readonly Dictionary<string, (ReserveResult Result, DateTimeOffset Until)> _answered = new(StringComparer.Ordinal);

    private readonly Dictionary<string, Task<ReserveResult>> _answering = new(StringComparer.Ordinal);

    /// <summary>The answer to <paramref name="requestId"/>: the one given before, the one being given, or <paramref name="answer"/>'s.</summary>
    public async Task<ReserveResult> OnceAsync(string requestId, Func<Task<ReserveResult>> answer)
    {
        if (_answered.TryGetValue(requestId, out var earlier))
        {
            return earlier.Result;
        }

        if (_answering.TryGetValue(requestId, out var inFlight))
        {
            return await inFlight;
        }

        var answering = answer();
        _answering[requestId] = answering;
        try
        {
            var result = await answering;
            if (result.Granted)
            {
                Remember(requestId, result); // a refusal is asked again: the budget may have room by then
            }

            return result;
        }
        finally
        {
            _answering.Remove(requestId);
        }
    }

    private void Remember(string requestId, ReserveResult result)
    {
        var now = time.GetUtcNow();
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

        _answered[requestId] = (result, now + remember);
    }
}
