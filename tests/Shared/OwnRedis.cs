using System.Diagnostics;
using System.Globalization;

namespace Orleans.AiFleet.Tests;

/// <summary>A Redis of a test's own (scripts/redis.sh on a free port), so stopping or killing it disturbs no other test.</summary>
internal sealed class OwnRedis(Dictionary<string, string> environment, string address) : IAsyncDisposable
{
    public string Address { get; } = address;

    public int Pid => int.Parse(File.ReadAllText(Path.Combine(environment["AIFLEET_REDIS_DIR"], "redis.pid")).Trim(), CultureInfo.InvariantCulture);

    public static async Task<OwnRedis> StartAsync()
    {
        var environment = new Dictionary<string, string>
        {
            ["AIFLEET_REDIS_PORT"] = TestHosts.FreePort().ToString(CultureInfo.InvariantCulture),
            ["AIFLEET_REDIS_DIR"] = Directory.CreateTempSubdirectory("aifleet-redis-").FullName,
        };
        return new OwnRedis(environment, (await ServiceScript.RunAsync("redis", ["start"], environment)).Trim());
    }

    /// <summary>Starts it again after a kill: empty, as this Redis keeps nothing on disk.</summary>
    public Task RestartAsync() => ServiceScript.RunAsync("redis", ["start"], environment);

    /// <summary>Sends the server a signal: STOP hangs it (its data intact), CONT resumes it, KILL ends it.</summary>
    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", Pid.ToString(CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Xunit.Assert.Equal(0, kill.ExitCode);
    }

    public async ValueTask DisposeAsync() => await ServiceScript.RunAsync("redis", ["stop"], environment);
}
