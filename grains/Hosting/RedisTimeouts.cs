using StackExchange.Redis;

namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>
/// How long a Redis call may take before it fails, for every client of Redis in a silo (grain storage, reminders,
/// ledger, cache). StackExchange.Redis notices a timed-out call at its heartbeat, so the heartbeat runs a few times
/// per timeout; its defaults (5 s timeouts, 1 s heartbeat) made a hung Redis answer after 5.4 s.
/// </summary>
internal static class RedisTimeouts
{
    public static ConfigurationOptions Apply(ConfigurationOptions configuration, TimeSpan timeout)
    {
        var ms = (int)Math.Max(100, timeout.TotalMilliseconds);
        configuration.AsyncTimeout = ms * 3 / 4; // plus up to a heartbeat before it is noticed
        configuration.SyncTimeout = ms * 3 / 4;
        configuration.HeartbeatInterval = TimeSpan.FromMilliseconds(Math.Min(1000, ms / 4));
        configuration.ConnectTimeout = Math.Max(ms, 1000);
        configuration.AbortOnConnectFail = false; // start, and reconnect, without Redis: calls fail until it is back
        configuration.BacklogPolicy = BacklogPolicy.FailFast; // while disconnected, fail at once rather than queue
        return configuration;
    }
}
