using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// Priority lanes: each request waits in its lane (high, normal, low), each lane with its own queue limit and
/// timeout. The batch loop takes the request whose lane, raised by one for every <c>lanes.agingMs</c> it has
/// waited, is highest; ties go to the higher lane. So a busy high lane is served first,
/// and a low request that has waited two aging periods competes with fresh high ones instead of starving.
/// </summary>
internal sealed partial class DynamicBatcher
{
    private sealed class Lane(Priority priority, int limit, TimeSpan timeout)
    {
        public Priority Priority { get; } = priority;
        public int Limit { get; } = limit;
        public TimeSpan Timeout { get; } = timeout;

        /// <summary>Accepted requests of this lane that have not started running.</summary>
        public int Waiting;

        /// <summary>Arrival order, for the timeout sweep (every request of a lane has the same timeout).</summary>
        public ConcurrentQueue<Pending> Timeline { get; } = new();

        /// <summary>Requests moved off the intake channel, in arrival order; only the batch loop touches it.</summary>
        public Queue<Pending> Ready { get; } = new();
    }

    private static Lane[] CreateLanes(Models.ModelConfig config) =>
        Enum.GetValues<Priority>()
            .Select(p => new Lane(p, config.QueueLimit(p), TimeSpan.FromMilliseconds(config.TimeoutMs(p))))
            .ToArray();

    /// <summary>Counts a request off the queue (it started running, was cancelled or timed out).</summary>
    private void LeftQueue(Pending pending)
    {
        Interlocked.Decrement(ref _waiting);
        Interlocked.Decrement(ref pending.Lane.Waiting);
    }

    /// <summary>Moves every request on the intake channel into its lane.</summary>
    private void Drain()
    {
        while (_queue.Reader.TryRead(out var pending))
        {
            pending.Lane.Ready.Enqueue(pending);
        }
    }

    /// <summary>The lane whose head request goes next, or null when every lane is empty.</summary>
    private Lane? NextLane()
    {
        Lane? best = null;
        long bestScore = long.MinValue;
        for (var i = _lanes.Length - 1; i >= 0; i--)
        {
            var lane = _lanes[i];
            while (lane.Ready.TryPeek(out var head) && head.IsAbandoned)
            {
                lane.Ready.Dequeue();
            }

            if (lane.Ready.Count == 0)
            {
                continue;
            }

            var score = (long)lane.Priority + (long)(_time.GetElapsedTime(lane.Ready.Peek().EnqueuedAt) / _aging);
            if (score > bestScore)
            {
                (best, bestScore) = (lane, score);
            }
        }

        return best;
    }
}
