using Orleans.AiFleet.Grains.Lifecycle;

namespace Orleans.AiFleet.Grains.Tests.Lifecycle;

/// <summary>Lifecycle settings are checked at start-up, every bad one reported at once.</summary>
public sealed class LifecycleOptionsValidatorTests
{
    [Fact]
    public void Validate_TheDefaults_Succeed() =>
        Assert.True(new LifecycleOptionsValidator().Validate(null, new LifecycleOptions()).Succeeded);

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Validate_AShareOutsideZeroToOne_FailsNamingIt(double share)
    {
        var result = new LifecycleOptionsValidator().Validate(null, new LifecycleOptions { MaxUserLabelShare = share });

        Assert.True(result.Failed);
        Assert.Contains("AiFleet:Lifecycle:MaxUserLabelShare", Assert.Single(result.Failures!));
    }

    [Fact]
    public void Validate_SeveralBadSettings_ReportsEveryOne()
    {
        var result = new LifecycleOptionsValidator().Validate(null,
            new LifecycleOptions { ReportEvery = TimeSpan.Zero, FeedbackWait = TimeSpan.FromSeconds(-1), DriftWindow = 0, MaxUserLabelShare = 2 });

        Assert.Equal(4, result.Failures!.Count());
    }

    [Theory]
    [InlineData(50, 0.1, 5)]
    [InlineData(30, 0.1, 3)]
    [InlineData(5, 0.1, 1)] // at least one row each
    [InlineData(100, 0.29, 29)] // 0.29 × 100 is 28.999… in binary floating point
    [InlineData(50, 1.0, 50)]
    public void UserCap_IsTheShareOfMinLabels_AtLeastOne(int minLabels, double share, int cap) =>
        Assert.Equal(cap, FeedbackCounting.UserCap(minLabels, share));
}
