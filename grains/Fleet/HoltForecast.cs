namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>
/// Holt's linear (double exponential) smoothing of an evenly sampled series: a smoothed level and a smoothed
/// per-sample trend, so <see cref="Forecast"/> can extrapolate a rising load a few samples ahead. <paramref name="alpha"/>
/// weighs new samples into the level, <paramref name="beta"/> new slopes into the trend (both in (0, 1]).
/// </summary>
internal sealed class HoltForecast(double alpha, double beta)
{
    private bool _started;

    public double Level { get; private set; }

    public double Trend { get; private set; }

    public void Add(double value)
    {
        if (!_started)
        {
            Level = value;
            Trend = 0;
            _started = true;
            return;
        }

        var previous = Level;
        Level = (alpha * value) + ((1 - alpha) * (previous + Trend));
        Trend = (beta * (Level - previous)) + ((1 - beta) * Trend);
    }

    /// <summary>The value expected <paramref name="steps"/> samples ahead, never below zero.</summary>
    public double Forecast(int steps) => _started ? Math.Max(0, Level + (steps * Trend)) : 0;
}
