using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// This silo's tally of what each model version did for users since the last report: requests, errors and
/// latency, apart for requests that named their version (pinned: the traffic policy did not route them, so they are no
/// sample of an experiment's arm); mirrored (shadow) requests and whether they agreed; the answers to remember for
/// feedback; sampled inputs.
/// Routers and replicas add to it under a short lock per model; <see cref="LifecycleReporter"/> drains it every
/// <see cref="LifecycleOptions.ReportEvery"/> into one message per model. Off the request's path: nothing here waits.
/// </summary>
internal sealed class LifecycleCollector
{
    /// <summary>Answers kept between two reports, per model; past it they are dropped (and counted).</summary>
    public const int MaxPendingPredictions = 50_000;

    private readonly ConcurrentDictionary<string, Pending> _models = new(StringComparer.Ordinal);

    /// <summary>Answers dropped because a report was late; for tests and diagnosis.</summary>
    public long DroppedPredictions => Interlocked.Read(ref _dropped);

    private long _dropped;

    /// <summary>A user's request; <paramref name="pinned"/> when it named its version.</summary>
    public void Served(string model, string version, bool pinned, bool failed, double milliseconds)
    {
        var pending = Of(model);
        lock (pending)
        {
            var counts = pinned ? Pending.Counts(pending.Pinned, version) : Pending.Counts(pending.Versions, version);
            counts.Requests++;
            counts.Errors += failed ? 1 : 0;
            counts.Latency.Add(milliseconds);
        }
    }

    /// <summary>A mirrored request: <paramref name="agreed"/> is null when it failed or could not be compared.</summary>
    public void Mirrored(string model, string version, bool failed, double milliseconds, bool? agreed)
    {
        var pending = Of(model);
        lock (pending)
        {
            var counts = Pending.Counts(pending.Versions, version);
            counts.Mirrored++;
            counts.MirrorErrors += failed ? 1 : 0;
            counts.Latency.Add(milliseconds);
            counts.Compared += agreed is null ? 0 : 1;
            counts.Agreed += agreed == true ? 1 : 0;
        }
    }

    /// <summary>Remembers a user's answer (its predicted class and score per row) for feedback.</summary>
    public void Answered(string model, string user, string requestId, string version, bool pinned, IReadOnlyList<Tensor> outputs)
    {
        var (labels, scores) = Predictions.Of(outputs);
        var pending = Of(model);
        lock (pending)
        {
            if (pending.Predictions.Count >= MaxPendingPredictions)
            {
                Interlocked.Increment(ref _dropped);
                return;
            }

            pending.Predictions.Add(new PredictionRecord(user, requestId, version, labels, scores, pinned));
        }
    }

    /// <summary>Adds a replica's sampled input counts (binned on the version's reference profile).</summary>
    public void Sampled(string model, string version, long[][] counts)
    {
        var pending = Of(model);
        lock (pending)
        {
            if (!pending.Inputs.TryGetValue(version, out var sum))
            {
                pending.Inputs[version] = counts.Select(c => (long[])c.Clone()).ToArray();
                return;
            }

            for (var f = 0; f < sum.Length && f < counts.Length; f++)
            {
                for (var b = 0; b < sum[f].Length && b < counts[f].Length; b++)
                {
                    sum[f][b] += counts[f][b];
                }
            }
        }
    }

    /// <summary>Takes everything gathered since the last call, one report per model that had any.</summary>
    public IEnumerable<(string Model, LifecycleReport Report)> Drain(string silo)
    {
        foreach (var (model, pending) in _models)
        {
            LifecycleReport? report = null;
            lock (pending)
            {
                if (pending.IsEmpty)
                {
                    continue;
                }

                report = new LifecycleReport(
                    silo,
                    pending.Versions.Values.ToArray(),
                    pending.Predictions.ToArray(),
                    pending.Inputs.Select(i => new InputCounts(i.Key, i.Value)).ToArray(),
                    pending.Pinned.Values.ToArray());
                pending.Versions.Clear();
                pending.Pinned.Clear();
                pending.Predictions.Clear();
                pending.Inputs.Clear();
            }

            yield return (model, report);
        }
    }

    private Pending Of(string model) => _models.GetOrAdd(model, static _ => new Pending());

    private sealed class Pending
    {
        /// <summary>Requests the traffic policy routed, and mirrored ones.</summary>
        public Dictionary<string, VersionCounts> Versions { get; } = new(StringComparer.Ordinal);

        /// <summary>Requests that named their version.</summary>
        public Dictionary<string, VersionCounts> Pinned { get; } = new(StringComparer.Ordinal);

        public List<PredictionRecord> Predictions { get; } = [];

        public Dictionary<string, long[][]> Inputs { get; } = new(StringComparer.Ordinal);

        public bool IsEmpty => Versions.Count == 0 && Pinned.Count == 0 && Predictions.Count == 0 && Inputs.Count == 0;

        public static VersionCounts Counts(Dictionary<string, VersionCounts> versions, string version)
        {
            if (!versions.TryGetValue(version, out var counts))
            {
                versions[version] = counts = new VersionCounts { Version = version };
            }

            return counts;
        }
    }
}

/// <summary>What an answer predicted, row by row: the arg-max of its first FP32 output, and that output's first value.</summary>
internal static class Predictions
{
    public static (int[] Labels, float[] Scores) Of(IReadOnlyList<Tensor> outputs)
    {
        var first = outputs.FirstOrDefault(o => o.Fp32 is not null);
        if (first?.Fp32 is not { Length: > 0 } data)
        {
            return ([], []);
        }

        var rows = first.Shape.Length >= 2 ? (int)Math.Max(1, first.Shape[0]) : 1;
        var width = data.Length / rows;
        if (width == 0)
        {
            return ([], []);
        }

        var labels = new int[rows];
        var scores = new float[rows];
        for (var r = 0; r < rows; r++)
        {
            var row = data.AsSpan(r * width, width);
            labels[r] = ArgMax(row);
            scores[r] = row[0];
        }

        return (labels, scores);
    }

    /// <summary>True when two answers predict the same class for every row.</summary>
    public static bool Agree(IReadOnlyList<Tensor> a, IReadOnlyList<Tensor> b) =>
        Of(a).Labels.AsSpan().SequenceEqual(Of(b).Labels);

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var i = 1; i < row.Length; i++)
        {
            if (row[i] > row[best])
            {
                best = i;
            }
        }

        return best;
    }
}
