using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// Priority lanes: each request waits in its lane (high, normal, low), each lane with its own queue limit, timeout
/// and share. Rows are handed out by start-time fair queuing: a lane's next request is tagged with the lane's
/// virtual finish time (the tag of its last served row plus its rows divided by the lane's share), and the smallest
/// tag goes next, ties to the higher lane. While lanes compete, each gets rows in proportion to its share (16:4:1 by
/// default), so premium requests overtake a queue of free ones yet a busy high lane never starves the low one; a
/// lane that was empty starts from the current virtual time, so idleness banks no credit.
/// </summary>
internal sealed partial class DynamicBatcher
{
    private sealed class Lane(Priority priority, int limit, TimeSpan timeout, int share)
    {
        public Priority Priority { get; } = priority;
        public int Limit { get; } = limit;
        public TimeSpan Timeout { get; } = timeout;

        /// <summary>Virtual time one row of this lane costs.</summary>
        public double Stride { get; } = 1.0 / share;

        /// <summary>The virtual finish time of the lane's last served request (only the batch loop touches it).</summary>
        public double Pass { get; set; }

        /// <summary>Accepted requests of this lane that have not started running.</summary>
        public int Waiting;

        /// <summary>Arrival order, for the timeout sweep (every request of a lane has the same timeout).</summary>
        public ConcurrentQueue<Pending> Timeline { get; } = new();

        /// <summary>Requests moved off the intake channel, in arrival order; only the batch loop touches it.</summary>
        public Queue<Pending> Ready { get; } = new();

        public double Tag(Pending head) => Pass + (head.Request.Rows * Stride);
    }

    private static Lane[] CreateLanes(Models.ModelConfig config) =>
        Enum.GetValues<Priority>()
            .Select(p => new Lane(p, config.QueueLimit(p), TimeSpan.FromMilliseconds(config.TimeoutMs(p)), config.Share(p)))
            .ToArray();

    /// <summary>Counts a request off the queue (it started running, was cancelled or timed out).</summary>
    private void LeftQueue(Pending pending)
    {
        Interlocked.Decrement(ref _waiting);
        Interlocked.Decrement(ref pending.Lane.Waiting);
    }

    /// <summary>Moves every request on the intake channel into its lane; a lane that was empty starts at the current virtual time.</summary>
    private void Drain()
    {
        while (_queue.Reader.TryRead(out var pending))
        {
            var lane = pending.Lane;
            if (lane.Ready.Count == 0)
            {
                lane.Pass = Math.Max(lane.Pass, _virtualTime);
            }

            lane.Ready.Enqueue(pending);
        }
    }

    /// <summary>The lane whose head request goes next, or null when every lane is empty.</summary>
    private Lane? NextLane()
    {
        Lane? best = null;
        var bestTag = double.MaxValue;
        for (var i = _lanes.Length - 1; i >= 0; i--)
        {
            var lane = _lanes[i];
            while (lane.Ready.TryPeek(out var head) && head.IsAbandoned)
            {
                lane.Ready.Dequeue();
            }

            if (lane.Ready.Count > 0 && lane.Tag(lane.Ready.Peek()) < bestTag)
            {
                (best, bestTag) = (lane, lane.Tag(lane.Ready.Peek()));
            }
        }

        return best;
    }

    /// <summary>Takes <paramref name="lane"/>'s head request and charges its rows to the lane.</summary>
    private Pending Take(Lane lane)
    {
        var next = lane.Ready.Dequeue();
        _virtualTime = lane.Pass;
        lane.Pass = lane.Tag(next);
        return next;
    }
}
