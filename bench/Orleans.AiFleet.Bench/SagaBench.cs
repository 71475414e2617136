using System.Diagnostics;
using System.Globalization;
using System.Text;
using Orleans.AiFleet.GrainInterfaces.Courses;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// The cost of a saga's persistence: one silo hosted in the bench process runs the same course sagas on in-memory
/// state and on Redis state, side by side. chat-lm writes one character per call, so the model costs little, and
/// the difference between the two runs is what the writes cost. A saga writes its own state 12 times (start, 8
/// steps, 4 lessons, less the steps that share a write), plus the budget's hold and settlement, the course and the
/// user's course list. Sagas run one at a time (latency), then 32 at once (throughput).
/// </summary>
internal static class SagaBench
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The saga's own state writes for a 4-lesson course.</summary>
    private const int SagaWrites = 12;

    public static async Task<string> RunAsync(string[] args)
    {
        var i = Array.IndexOf(args, "--redis");
        var redis = i >= 0 && i + 1 < args.Length ? args[i + 1] : throw new ArgumentException("--redis HOST:PORT is required");
        var count = int.Parse(args.SkipWhile(a => a != "--count").Skip(1).FirstOrDefault() ?? "200", Inv);
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {count} sagas of 4 lessons (1 character each) per row.");
        sb.AppendLine();
        sb.AppendLine("| state | sagas at once | sagas/s | p50 ms per saga | p99 ms |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        var results = new Dictionary<(string, int), (double Rate, double P50)>();
        foreach (var (name, store) in new[] { ("in memory", (string?)null), ("Redis", redis) })
        {
            using var host = await StartAsync(store);
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            await RunSagasAsync(grains, 20, 4); // warm-up: sessions, tokenizers, connections
            foreach (var parallel in new[] { 1, 32 })
            {
                var (rate, p50, p99) = await RunSagasAsync(grains, count, parallel);
                results[(name, parallel)] = (rate, p50);
                sb.AppendLine(Inv, $"| {name} | {parallel} | {rate:0.0} | {p50:0.00} | {p99:0.00} |");
            }

            await host.StopAsync();
        }

        var perWrite = (results[("Redis", 1)].P50 - results[("in memory", 1)].P50) / SagaWrites;
        sb.AppendLine();
        sb.AppendLine(Inv, $"Persistence per saga step on Redis, from one saga at a time: ({results[("Redis", 1)].P50:0.00} − {results[("in memory", 1)].P50:0.00} ms) / {SagaWrites} writes ≈ **{perWrite:0.000} ms** (the budget's and the course's writes included in the difference).");
        return sb.ToString();
    }

    private static async Task<IHost> StartAsync(string? redis)
    {
        var host = await InProcessSilo.StartAsync(redis);
        await host.Services.GetRequiredService<IGrainFactory>().GetGrain<GrainInterfaces.Models.IModelRegistryGrain>("default").LoadAllAsync();
        return host;
    }

    private static async Task<(double Rate, double P50, double P99)> RunSagasAsync(IGrainFactory grains, int count, int parallel)
    {
        var request = new CourseRequest("Bench", "beginner", 4, "English", "chat-lm", LessonTokens: 1);
        var latencies = new double[count];
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(async _ =>
        {
            int n;
            while ((n = Interlocked.Increment(ref next)) < count)
            {
                var started = Stopwatch.GetTimestamp();
                var saga = grains.GetGrain<ICourseGenerationGrain>($"saga_bench_{Guid.NewGuid():N}");
                var status = await saga.StartAsync($"bench-user-{n % 16}", null, request);
                while (!SagaStates.IsTerminal(status.State))
                {
                    await Task.Delay(1);
                    status = (await saga.GetStatusAsync())!;
                }

                if (status.State != SagaStates.Succeeded)
                {
                    throw new InvalidOperationException($"saga {status.Id} ended {status.State}: {status.Error}");
                }

                latencies[n] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
        }));
        clock.Stop();
        Array.Sort(latencies);
        return (count / clock.Elapsed.TotalSeconds, latencies[count / 2], latencies[(int)(count * 0.99)]);
    }
}
