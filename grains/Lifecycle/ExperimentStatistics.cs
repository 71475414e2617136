using MathNet.Numerics.Distributions;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// The tests experiments decide by, all one-sided: Fisher's exact test on two proportions, Wilson score bounds on
/// one, and the Mann–Whitney rank test over two latency sketches (with the tie correction, since a bucket is a tie).
/// Distributions come from Math.NET Numerics.
/// </summary>
internal static class ExperimentStatistics
{
    /// <summary>
    /// Fisher's exact test: the probability, were both arms alike, of the candidate having at least
    /// <paramref name="candidateEvents"/> of the events (errors, wrong answers) it had. Small means the candidate has
    /// significantly more of them. 1 when either arm is empty.
    /// </summary>
    public static double FisherMore(long candidateEvents, long candidateTotal, long baselineEvents, long baselineTotal) =>
        Tail(candidateEvents, candidateTotal, baselineEvents, baselineTotal, upper: true);

    /// <summary>As <see cref="FisherMore"/>, for the candidate having significantly fewer events.</summary>
    public static double FisherFewer(long candidateEvents, long candidateTotal, long baselineEvents, long baselineTotal) =>
        Tail(candidateEvents, candidateTotal, baselineEvents, baselineTotal, upper: false);

    private static double Tail(long a, long n1, long b, long n2, bool upper)
    {
        if (n1 <= 0 || n2 <= 0)
        {
            return 1;
        }

        var population = (int)Math.Min(int.MaxValue, n1 + n2);
        var events = (int)(a + b);
        var draws = (int)n1;
        var lowest = Math.Max(0, draws + events - population);
        var highest = Math.Min(events, draws);
        var (from, to) = upper ? ((int)a, highest) : (lowest, (int)a);
        double p = 0;
        for (var k = from; k <= to; k++)
        {
            p += Math.Exp(Hypergeometric.PMFLn(population, events, draws, k));
        }

        return Math.Clamp(p, 0, 1);
    }

    /// <summary>The one-sided z for a confidence (0.99 → 2.33).</summary>
    public static double Z(double confidence) => Normal.InvCDF(0, 1, confidence);

    /// <summary>Wilson score bounds of a proportion at a two-sided <paramref name="confidence"/>.</summary>
    public static (double Low, double High) Wilson(long events, long total, double confidence)
    {
        if (total <= 0)
        {
            return (0, 1);
        }

        var z = Normal.InvCDF(0, 1, 1 - ((1 - confidence) / 2));
        return WilsonAt(events, total, z);
    }

    /// <summary>The one-sided Wilson bounds at <paramref name="confidence"/> (each bound alone holds with it).</summary>
    public static (double Low, double High) WilsonOneSided(long events, long total, double confidence) =>
        total <= 0 ? (0, 1) : WilsonAt(events, total, Z(confidence));

    private static (double Low, double High) WilsonAt(long events, long total, double z)
    {
        double n = total, p = (double)events / total, z2 = z * z;
        var centre = (p + (z2 / (2 * n))) / (1 + (z2 / n));
        var half = z * Math.Sqrt((p * (1 - p) / n) + (z2 / (4 * n * n))) / (1 + (z2 / n));
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary>
    /// The Mann–Whitney U test of the candidate's latencies being stochastically larger than the baseline's, from their
    /// sketches (a shared bucket counts as a tie), by the normal approximation with tie correction. 1 when either is empty.
    /// </summary>
    public static double MannWhitneySlower(LatencySketch candidate, LatencySketch baseline)
    {
        double n1 = candidate.Count, n2 = baseline.Count;
        if (n1 == 0 || n2 == 0)
        {
            return 1;
        }

        double u = 0, baselineBelow = 0, ties = 0;
        foreach (var index in candidate.Buckets.Keys.Union(baseline.Buckets.Keys).Order())
        {
            double c = candidate.Buckets.GetValueOrDefault(index), b = baseline.Buckets.GetValueOrDefault(index);
            u += c * (baselineBelow + (b / 2));
            baselineBelow += b;
            var t = c + b;
            ties += (t * t * t) - t;
        }

        var n = n1 + n2;
        var variance = n1 * n2 / 12 * ((n + 1) - (ties / (n * (n - 1))));
        if (variance <= 0)
        {
            return 0.5; // every value in one bucket: no evidence either way
        }

        var z = (u - (n1 * n2 / 2)) / Math.Sqrt(variance);
        return 1 - Normal.CDF(0, 1, z);
    }
}
