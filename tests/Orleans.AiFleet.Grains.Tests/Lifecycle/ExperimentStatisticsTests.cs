using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using Orleans.AiFleet.Grains.Lifecycle;

namespace Orleans.AiFleet.Grains.Tests.Lifecycle;

/// <summary>The experiments' tests against values computed independently (exact sums of binomial coefficients; the normal tail).</summary>
public sealed class ExperimentStatisticsTests
{
    [Theory]
    [InlineData(7, 10, 2, 10, 0.03488925934746368)]
    [InlineData(12, 1000, 1, 1000, 0.0016617458943965699)]
    [InlineData(0, 50, 0, 50, 1.0)]
    public void FisherMore_IsTheExactUpperTail(long a, long n1, long b, long n2, double expected) =>
        Assert.Equal(expected, ExperimentStatistics.FisherMore(a, n1, b, n2), 9);

    [Fact]
    public void FisherFewer_IsTheExactLowerTail() =>
        Assert.Equal(0.002596111450708345, ExperimentStatistics.FisherFewer(3, 100, 15, 100), 9);

    [Fact]
    public void Wilson_BracketsTheRate_AndNarrowsWithMoreSamples()
    {
        var (low, high) = ExperimentStatistics.Wilson(90, 100, 0.95);
        var (wideLow, wideHigh) = ExperimentStatistics.Wilson(9, 10, 0.95);

        Assert.Equal(0.8256, low, 3); // the textbook 95 % Wilson interval of 90/100
        Assert.Equal(0.9448, high, 3);
        Assert.True(wideLow < low && wideHigh > high);
        Assert.Equal((0.0, 1.0), ExperimentStatistics.Wilson(0, 0, 0.95));
    }

    [Fact]
    public void MannWhitney_OnSketches_MatchesTheTieCorrectedNormalApproximation()
    {
        var baseline = Sketch((1, 5), (2, 10), (3, 5));
        var candidate = Sketch((2, 5), (3, 10), (4, 5));

        Assert.Equal(0.00017064885481626006, ExperimentStatistics.MannWhitneySlower(candidate, baseline), 6);
        Assert.True(ExperimentStatistics.MannWhitneySlower(baseline, candidate) > 0.99);
        Assert.Equal(0.5, ExperimentStatistics.MannWhitneySlower(Sketch((5, 10)), Sketch((5, 10))), 6);
    }

    [Fact]
    public void TheLatencySketch_ReadsQuantilesWithin3Percent()
    {
        var sketch = new LatencySketch();
        for (var i = 1; i <= 1000; i++)
        {
            sketch.Add(i / 10.0); // 0.1 to 100 ms
        }

        Assert.InRange(sketch.Quantile(0.5)!.Value, 50 * 0.97, 50 * 1.03);
        Assert.InRange(sketch.Quantile(0.95)!.Value, 95 * 0.97, 95 * 1.03);
        Assert.Null(new LatencySketch().Quantile(0.5));
    }

    private static LatencySketch Sketch(params (double Ms, int Count)[] values)
    {
        var sketch = new LatencySketch();
        foreach (var (ms, count) in values)
        {
            for (var i = 0; i < count; i++)
            {
                sketch.Add(ms);
            }
        }

        return sketch;
    }
}
