using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Orleans.AiFleet.Bench;

/// <summary>(a) ONNX Runtime called directly in this process: the limit any server of the model can approach.</summary>
internal static class RawOnnx
{
    public sealed record Result(string Layout, int Batch, double SamplesPerSecond, double P50Ms);

    /// <summary>Every batch size under three thread layouts; the caller takes the best as the limit.</summary>
    public static IReadOnlyList<Result> Sweep(Workload w, TimeSpan each)
    {
        var results = new List<Result>();
        foreach (var batch in new[] { 1, 8, 32, 64 })
        {
            results.Add(Measure(w, batch, workers: 1, intraOpThreads: 1, each));
            results.Add(Measure(w, batch, workers: 2, intraOpThreads: 1, each));
            results.Add(Measure(w, batch, workers: 1, intraOpThreads: 2, each));
        }

        return results;
    }

    private static Result Measure(Workload w, int batch, int workers, int intraOpThreads, TimeSpan duration)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, IntraOpNumThreads = intraOpThreads };
        using var session = new InferenceSession(w.ModelPath, options);
        var latencies = new List<double>[workers];
        var runs = new long[workers];
        var threads = Enumerable.Range(0, workers).Select(i => new Thread(() =>
        {
            var inputs = w.Batch(batch);
            var names = inputs.Select(x => x.Name).ToArray();
            var values = inputs.Select(x => x.Value).ToArray();
            using var runOptions = new RunOptions();
            for (var warm = 0; warm < 20; warm++)
            {
                using var _ = session.Run(runOptions, names, values, [w.Output]);
            }

            latencies[i] = new List<double>(100_000);
            var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < end)
            {
                var t0 = Stopwatch.GetTimestamp();
                using (session.Run(runOptions, names, values, [w.Output]))
                {
                }

                latencies[i].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                runs[i]++;
            }

            foreach (var v in values)
            {
                v.Dispose();
            }
        })).ToArray();
        foreach (var t in threads)
        {
            t.Start();
        }

        foreach (var t in threads)
        {
            t.Join();
        }

        var all = latencies.SelectMany(l => l).Order().ToArray();
        var layout = workers == 1 ? $"1 thread, intra-op {intraOpThreads}" : $"{workers} threads, intra-op {intraOpThreads}";
        return new Result(layout, batch, runs.Sum() * batch / duration.TotalSeconds, Stats.Percentile(all, 0.50));
    }
}
