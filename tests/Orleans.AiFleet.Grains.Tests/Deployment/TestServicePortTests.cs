using System.Text.RegularExpressions;

namespace Orleans.AiFleet.Grains.Tests.Deployment;

/// <summary>
/// The test script's PostgreSQL and Redis must not listen inside Linux's ephemeral port range (32768–60999 here):
/// right after a load test, client sockets in TIME_WAIT can hold such a port and the script fails to start them.
/// </summary>
public sealed class TestServicePortTests
{
    [Theory]
    [InlineData("postgres.sh", "AIFLEET_PG_PORT")]
    [InlineData("redis.sh", "AIFLEET_REDIS_PORT")]
    public void DefaultPort_IsBelowTheEphemeralRange(string script, string variable)
    {
        var text = File.ReadAllText(Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, "scripts", script));
        var match = Regex.Match(text, $@"\$\{{{variable}:-(\d+)\}}");

        Assert.True(match.Success, $"scripts/{script} has no default for {variable}");
        Assert.InRange(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 1024, EphemeralStart() - 1);
    }

    /// <summary>The first port of this machine's ephemeral range, or Linux's default where it cannot be read.</summary>
    private static int EphemeralStart() =>
        File.Exists("/proc/sys/net/ipv4/ip_local_port_range")
            ? int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture)
            : 32768;
}
