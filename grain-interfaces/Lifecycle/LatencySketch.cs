namespace Orleans.AiFleet.GrainInterfaces.Lifecycle;

/// <summary>
/// A mergeable latency histogram with bounded relative error: bucket <c>i</c> holds values in
/// (<see cref="Floor"/>·γ^(i-1), <see cref="Floor"/>·γ^i] with γ = <see cref="Gamma"/>, so any quantile read from it is
/// within ±2.5 % of the true value (values under the floor share bucket 0). Sketches from many silos add up exactly,
/// and two sketches can be compared by rank (a Mann–Whitney test over the buckets). Not thread-safe.
/// </summary>
[GenerateSerializer, Alias("aifleet.LatencySketch")]
public sealed class LatencySketch
{
    public const double Gamma = 1.05;
    public const double Floor = 0.01;

    /// <summary>Buckets past the last hold everything slower than about 3 hours.</summary>
    public const int MaxIndex = 600;

    private static readonly double LogGamma = Math.Log(Gamma);

    /// <summary>Counts by bucket index (only buckets that were hit).</summary>
    [Id(0)]
    public SortedDictionary<int, long> Buckets { get; set; } = [];

    [Id(1)]
    public long Count { get; set; }

    public void Add(double milliseconds) => Add(IndexOf(milliseconds), 1);

    public void Add(int index, long count)
    {
        Buckets[index] = Buckets.GetValueOrDefault(index) + count;
        Count += count;
    }

    public void Merge(LatencySketch other)
    {
        foreach (var (index, count) in other.Buckets)
        {
            Add(index, count);
        }
    }

    /// <summary>The bucket of a value in milliseconds.</summary>
    public static int IndexOf(double milliseconds) =>
        milliseconds <= Floor || double.IsNaN(milliseconds) ? 0 : Math.Min(MaxIndex, (int)Math.Ceiling(Math.Log(milliseconds / Floor) / LogGamma));

    /// <summary>The value a bucket stands for: the midpoint (in ratio) of its bounds.</summary>
    public static double ValueOf(int index) => index == 0 ? Floor : Floor * Math.Pow(Gamma, index - 0.5);

    /// <summary>The <paramref name="q"/> quantile (0 to 1) in milliseconds, or null when empty.</summary>
    public double? Quantile(double q)
    {
        if (Count == 0)
        {
            return null;
        }

        var rank = Math.Max(1, (long)Math.Ceiling(q * Count));
        long seen = 0;
        foreach (var (index, count) in Buckets)
        {
            seen += count;
            if (seen >= rank)
            {
                return ValueOf(index);
            }
        }

        return ValueOf(Buckets.Keys.Last());
    }

    public LatencySketch Copy()
    {
        var copy = new LatencySketch();
        copy.Merge(this);
        return copy;
    }
}
