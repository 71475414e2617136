using System.Diagnostics;
using System.Globalization;
using System.Text;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// UserBudget in process: one silo hosted in the bench process, the caller on the same host. Baseline: the same
/// grain's read-only status call, side by side (the cost of an Orleans call with no write). Then Reserve+Settle
/// pairs from one caller (latency) and from 64 (throughput), and the 1,000-against-100 exactness run. With
/// <c>--redis HOST:PORT</c> the same runs repeat on Redis-backed state.
/// </summary>
internal static class BudgetBench
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<string> RunAsync(string[] args)
    {
        var seconds = Option(args, "--duration", 5);
        var i = Array.IndexOf(args, "--redis");
        var redis = i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. Each point {seconds:0} s after a 2 s warm-up.");
        await RunOnAsync(sb, "in-memory state (the embedded default)", null, seconds);
        if (redis is not null)
        {
            await RunOnAsync(sb, $"Redis state ({redis}, cluster mode's store)", redis, seconds);
        }

        return sb.ToString();
    }

    private static async Task RunOnAsync(StringBuilder sb, string title, string? redis, double seconds)
    {
        using var host = await InProcessSilo.StartAsync(redis);
        var grains = host.Services.GetRequiredService<IGrainFactory>();

        sb.AppendLine();
        sb.AppendLine(Inv, $"### {title}");
        sb.AppendLine();
        sb.AppendLine("| operation | callers | ops/s | p50 ms | p99 ms |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        var baseline = grains.GetGrain<IUserBudgetGrain>($"bench-{Guid.NewGuid():N}");
        Row(sb, "baseline: GetStatus (a grain call, no write)", 1, await MeasureAsync(1, seconds, async () => { await baseline.GetStatusAsync(); return 1; }));

        var single = grains.GetGrain<IUserBudgetGrain>($"bench-{Guid.NewGuid():N}");
        Row(sb, "Reserve + Settle (two ops)", 1, await MeasureAsync(1, seconds, () => PairAsync(single)));
        var crowd = grains.GetGrain<IUserBudgetGrain>($"bench-{Guid.NewGuid():N}");
        Row(sb, "Reserve + Settle (two ops)", 64, await MeasureAsync(64, seconds, () => PairAsync(crowd)));

        // Exactness: 1,000 concurrent reservations against a budget for 100.
        var exact = grains.GetGrain<IUserBudgetGrain>($"bench-{Guid.NewGuid():N}");
        await exact.SetLimitsAsync(new BudgetLimits(Daily: 1.00m));
        var results = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => exact.ReserveAsync(new ReserveRequest("m", 0.01m, 1))));
        await Task.WhenAll(results.Where(r => r.Granted).Select(r => exact.SettleAsync(new SettleRequest(r.ReservationId, 0.01m, 1, "ok"))));
        var status = await exact.GetStatusAsync();
        sb.AppendLine();
        sb.AppendLine(Inv, $"1,000 concurrent reservations of $0.01 against a daily cap of $1.00: **{results.Count(r => r.Granted)} granted, {results.Count(r => r.RefusedBy == BudgetLimitCodes.Daily)} refused (daily_cap)**, spend ${status.SpentToday}, still held ${status.Reserved}.");
        await host.StopAsync();
    }

    private static async Task<int> PairAsync(IUserBudgetGrain budget)
    {
        var r = await budget.ReserveAsync(new ReserveRequest("m", 0.001m, 10));
        await budget.SettleAsync(new SettleRequest(r.ReservationId, 0.0005m, 5, "ok"));
        return 2;
    }

    private sealed record Measure(double OpsPerSecond, double P50Ms, double P99Ms);

    /// <summary>Closed loop: each caller repeats the operation; latency is per call of <paramref name="op"/>.</summary>
    private static async Task<Measure> MeasureAsync(int callers, double seconds, Func<Task<int>> op)
    {
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed < TimeSpan.FromSeconds(2))
        {
            await op();
        }

        var latencies = new List<double>[callers];
        long ops = 0;
        var clock = Stopwatch.StartNew();
        var until = TimeSpan.FromSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
        {
            var mine = latencies[c] = new List<double>(200_000);
            while (clock.Elapsed < until)
            {
                var start = Stopwatch.GetTimestamp();
                var n = await op();
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                Interlocked.Add(ref ops, n);
            }
        })));
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new Measure(ops / clock.Elapsed.TotalSeconds, all[all.Length / 2], all[(int)(all.Length * 0.99)]);
    }

    private static void Row(StringBuilder sb, string name, int callers, Measure m) =>
        sb.AppendLine(Inv, $"| {name} | {callers} | {m.OpsPerSecond:0} | {m.P50Ms:0.000} | {m.P99Ms:0.000} |");

    private static double Option(string[] args, string name, double fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], Inv) : fallback;
    }
}
