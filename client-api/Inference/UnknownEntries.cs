using System.Collections.Concurrent;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>
/// Bounds the "not found" answers a lookup cache remembers: names and keys a client made up cost one entry each, so
/// past <see cref="Max"/> of them the cache forgets them all (known entries stay) rather than grow with the flood.
/// </summary>
internal sealed class UnknownEntries(int max)
{
    private int _count;

    public int Max { get; } = max;

    /// <summary>Remembers <paramref name="key"/> as unknown in <paramref name="cache"/>, first forgetting every unknown entry if there are too many.</summary>
    public void Add<TValue>(ConcurrentDictionary<string, (TValue? Value, long Until)> cache, string key, long until)
        where TValue : class
    {
        if (Interlocked.Increment(ref _count) > Max)
        {
            foreach (var (k, v) in cache)
            {
                if (v.Value is null)
                {
                    cache.TryRemove(k, out _);
                }
            }

            Interlocked.Exchange(ref _count, 0);
        }

        cache[key] = (null, until);
    }
}
