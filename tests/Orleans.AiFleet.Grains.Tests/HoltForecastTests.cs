using Orleans.AiFleet.Grains.Fleet;

namespace Orleans.AiFleet.Grains.Tests;

public sealed class HoltForecastTests
{
    [Fact]
    public void Forecast_SteadySeries_StaysAtTheValue()
    {
        var holt = new HoltForecast(0.5, 0.3);
        for (var i = 0; i < 20; i++)
        {
            holt.Add(8);
        }

        Assert.Equal(8, holt.Forecast(4), precision: 6);
    }

    [Fact]
    public void Forecast_LinearRise_ExtrapolatesAheadOfTheLastSample()
    {
        var holt = new HoltForecast(0.5, 0.3);
        for (var i = 0; i <= 30; i++)
        {
            holt.Add(2 * i); // +2 per sample, last sample 60
        }

        // Holt's method tracks a linear series exactly in the limit: 4 samples ahead of 60 is 68.
        Assert.InRange(holt.Forecast(4), 67, 69);
        Assert.InRange(holt.Trend, 1.9, 2.1);
    }

    [Fact]
    public void Forecast_Falling_NeverBelowZero()
    {
        var holt = new HoltForecast(0.5, 0.3);
        foreach (var v in new[] { 40, 30, 20, 10, 0, 0 })
        {
            holt.Add(v);
        }

        Assert.True(holt.Trend < 0);
        Assert.Equal(0, holt.Forecast(20));
    }

    [Fact]
    public void Forecast_BeforeAnySample_IsZero() => Assert.Equal(0, new HoltForecast(0.5, 0.3).Forecast(3));
}
