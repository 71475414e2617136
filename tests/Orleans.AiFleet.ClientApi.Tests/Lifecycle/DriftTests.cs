using System.Text.Json;
using static Orleans.AiFleet.ClientApi.Tests.Lifecycle.TrafficPolicyTests;

namespace Orleans.AiFleet.ClientApi.Tests.Lifecycle;

/// <summary>
/// Replicas sample their inputs into histograms on the version's reference profile (digits ships one, from its
/// training images); the population stability index stays low on inputs like the training data and rises past the
/// threshold on a shifted stream, marking the version drifting, in the report and in /metrics.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class DriftTests(LifecycleFixture fixture)
{
    [Fact]
    public async Task Psi_StaysLowOnHeldOutDigits_AndCrossesTheThresholdOnAShiftedStream()
    {
        await fixture.DriveAsync("drift", users: 50, t => t.Total >= 450);
        var steady = await UntilAsync(async () => Version(await ReportAsync(fixture.Http, "drift"), "2"), HasPsi);
        Assert.True(steady.GetProperty("psi").GetDouble() < 0.2, $"PSI {steady.GetProperty("psi")} on held-out digits");
        Assert.False(steady.GetProperty("drifting").GetBoolean());

        // Every pixel brightened by half: the images a miscalibrated scanner would send.
        // Sent in rounds of 450 (at most 5): on a loaded machine a replica's sample buffer can fill between two reports
        // and drop samples, so how many requests it takes varies; that it happens, and stays below 0.2 before, does not.
        JsonElement shifted = default;
        for (var round = 0; round < 5 && !(HasPsi(shifted) && shifted.GetProperty("drifting").GetBoolean()); round++)
        {
            await fixture.DriveAsync("drift", users: 50, t => t.Total >= 450, shift: p => Math.Min(1f, p + 0.5f));
            for (var settle = DateTime.UtcNow.AddSeconds(3); DateTime.UtcNow < settle && !(HasPsi(shifted) && shifted.GetProperty("drifting").GetBoolean()); await Task.Delay(100))
            {
                shifted = Version(await ReportAsync(fixture.Http, "drift"), "2");
            }
        }

        Assert.True(HasPsi(shifted) && shifted.GetProperty("drifting").GetBoolean(), $"not drifting after 5 rounds of shifted digits: {shifted}");
        Assert.True(shifted.GetProperty("psi").GetDouble() > 0.2);
        var metrics = await fixture.Http.GetStringAsync("/metrics");
        Assert.Contains("aifleet_version_psi", metrics);
        Assert.Contains("model=\"drift\"", metrics);
    }

    private static bool HasPsi(JsonElement version) =>
        version.ValueKind == JsonValueKind.Object && version.GetProperty("psi").ValueKind == JsonValueKind.Number;
}
