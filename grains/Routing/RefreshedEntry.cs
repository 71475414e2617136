using System.Diagnostics;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// A value a silo caches from a grain and refreshes in the background once it is a second old, while the old value
/// keeps serving: one refresh at a time per entry, whoever asks first after the second has passed.
/// </summary>
internal sealed class RefreshedEntry<T>(T value)
{
    private static readonly long RefreshEvery = Stopwatch.Frequency;

    private int _refreshing;
    private long _fetchedAt = Stopwatch.GetTimestamp();

    public T Value { get; set; } = value;

    /// <summary>True when the value is due a refresh and this caller is the one to run it (then call <see cref="EndRefresh"/>).</summary>
    public bool TryBeginRefresh() =>
        Stopwatch.GetTimestamp() - Volatile.Read(ref _fetchedAt) > RefreshEvery && Interlocked.CompareExchange(ref _refreshing, 1, 0) == 0;

    public void EndRefresh()
    {
        Volatile.Write(ref _fetchedAt, Stopwatch.GetTimestamp());
        Volatile.Write(ref _refreshing, 0);
    }
}
