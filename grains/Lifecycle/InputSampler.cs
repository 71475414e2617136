using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// A replica's sample of its inputs for drift: every <c>every</c>-th request's inputs are kept by reference (at most
/// <see cref="MaxPending"/>, never copied), and binned on the version's reference profile only when the replica's
/// report timer drains them, so the request pays for one increment and, now and then, one enqueue.
/// </summary>
internal sealed class InputSampler(DriftProfile profile, int every)
{
    public const int MaxPending = 256;

    private readonly ConcurrentQueue<IReadOnlyList<Tensor>> _pending = new();
    private long _seen;

    public void Offer(IReadOnlyList<Tensor> inputs)
    {
        if (Interlocked.Increment(ref _seen) % every == 0 && _pending.Count < MaxPending)
        {
            _pending.Enqueue(inputs);
        }
    }

    /// <summary>The pending samples binned into one set of counts per feature, or null when there were none.</summary>
    public long[][]? Drain()
    {
        long[][]? counts = null;
        while (_pending.TryDequeue(out var inputs))
        {
            counts ??= profile.NewCounts();
            profile.Add(counts, inputs);
        }

        return counts;
    }
}
