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
        await HierarchyAsync(sb, grains, seconds);
        await host.StopAsync();
    }

    /// <summary>
    /// Three levels against one: Reserve+Settle spread over 64 users outside any organization, then over 64 students of
    /// one class of one school (every level capped), counting the calls the class and school budgets take; then the
    /// races of 1,000 students against a class budget for 100, and against a school budget for 100.
    /// </summary>
    private static async Task HierarchyAsync(StringBuilder sb, IGrainFactory grains, double seconds)
    {
        using var calls = new ParentCalls();
        var run = Guid.NewGuid().ToString("N")[..8];
        var flat = Enumerable.Range(0, 64).Select(i => grains.GetGrain<IUserBudgetGrain>($"flat-{run}-{i}")).ToArray();
        var (org, team) = ($"school-{run}", "class-a");
        await grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Org(org)).SetLimitsAsync(new BudgetLimits(Monthly: 1_000_000m));
        await grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Team(org, team)).SetLimitsAsync(new BudgetLimits(Monthly: 100_000m));
        var students = Enumerable.Range(0, 64).Select(i => grains.GetGrain<IUserBudgetGrain>($"student-{run}-{i}")).ToArray();
        await Task.WhenAll(students.Select(s => s.SetParentsAsync(org, [team])));

        sb.AppendLine();
        sb.AppendLine("Budgets at every level: Reserve + Settle spread over 64 users, one level (no organization) against three (user, class, school; every level capped), alternating.");
        sb.AppendLine();
        sb.AppendLine("| budgets | callers | ops/s | p50 ms | p99 ms | class + school calls per request |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|");
        for (var round = 0; round < 2; round++)
        {
            foreach (var (name, users) in new[] { ("one level", flat), ("three levels", students) })
            {
                var next = 0;
                calls.Reset();
                var m = await MeasureAsync(64, seconds, () => PairAsync(users[Interlocked.Increment(ref next) & 63]));
                var perRequest = calls.Total / (double)Volatile.Read(ref next); // every pair, warm-up included, is one request
                sb.AppendLine(Inv, $"| {name} | 64 | {m.OpsPerSecond:0} | {m.P50Ms:0.000} | {m.P99Ms:0.000} | {perRequest:0.0000} |");
            }
        }

        foreach (var binding in new[] { BudgetKeys.TeamLevel, BudgetKeys.OrgLevel })
        {
            var (school, cls) = ($"race-{binding}-{run}", "10-b");
            const decimal cost = 0.000001234m;
            await grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Team(school, cls)).SetLimitsAsync(new BudgetLimits(Daily: binding == BudgetKeys.TeamLevel ? 100 * cost : 1000m));
            await grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Org(school)).SetLimitsAsync(new BudgetLimits(Daily: binding == BudgetKeys.OrgLevel ? 100 * cost : 1000m));
            var race = Enumerable.Range(0, 1000).Select(i => grains.GetGrain<IUserBudgetGrain>($"{school}-s{i}")).ToArray();
            await Task.WhenAll(race.Select(s => s.SetParentsAsync(school, [cls])));
            var holds = await Task.WhenAll(race.Select(s => s.ReserveAsync(new ReserveRequest("m", cost, 1))));
            await Task.WhenAll(race.Zip(holds).Where(p => p.Second.Granted).Select(p => p.First.SettleAsync(new SettleRequest(p.Second.ReservationId, cost, 1, "ok"))));
            var teamBudget = grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Team(school, cls));
            var orgBudget = grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Org(school));
            var waited = Stopwatch.StartNew();
            while (((await teamBudget.GetStatusAsync()).OpenReservations > 0 || (await orgBudget.GetStatusAsync()).OpenReservations > 0) && waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(100); // slices go back to their parents after 2 idle seconds
            }

            var studentsSpent = (await Task.WhenAll(race.Select(s => s.GetStatusAsync()))).Sum(s => s.SpentToday);
            sb.AppendLine();
            sb.AppendLine(Inv, $"1,000 students at once, one request of ${cost} each, the {(binding == BudgetKeys.TeamLevel ? "class" : "school")} budget covering 100: **{holds.Count(h => h.Granted)} granted**, refused by {string.Join(", ", holds.Where(h => !h.Granted).GroupBy(h => $"{BudgetKeys.Level(h.Budget!)} {h.RefusedBy}").Select(g => $"{g.Key} ×{g.Count()}"))}; students spent ${studentsSpent}, the class ${(await teamBudget.GetStatusAsync()).SpentToday}, the school ${(await orgBudget.GetStatusAsync()).SpentToday} (slices returned after {waited.Elapsed.TotalSeconds:0.0} s).");
        }
    }

    /// <summary>Counts the calls team and organization budgets take from their children (aifleet.budget.parent_calls).</summary>
    private sealed class ParentCalls : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private long _total;

        public ParentCalls()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "aifleet.budget.parent_calls")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _total, value));
            _listener.Start();
        }

        public long Total => Interlocked.Read(ref _total);

        public void Reset() => Interlocked.Exchange(ref _total, 0);

        public void Dispose() => _listener.Dispose();
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
