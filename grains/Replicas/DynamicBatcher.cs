using System.Buffers;
using System.Threading.Channels;
using Microsoft.ML.OnnxRuntime;
using Orleans.AiFleet.GrainInterfaces.Inference;


namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// A replica's queue and batch loop. Callers only enqueue; one loop on a thread of its own forms batches and runs
/// them, so a blocking <c>Run</c> never holds a grain turn or a thread-pool thread.
/// <para>When a batch runs: once it holds <c>maxBatchSize</c> rows; or once its oldest request has waited
/// <c>maxQueueDelayMs</c>; or as soon as it holds as many rows as the previous batch did. The last rule is the
/// demand estimate of a closed loop of clients: a lone client never waits for company that is not coming, while a
/// crowd that came back together is batched together. Requests beyond the batch stay queued for the next one.</para>
/// <para>Shapes: rows of a batch are stacked along dimension 0, which only works when every other dimension of
/// every input agrees and the same outputs are wanted. A batch is therefore split into groups of compatible
/// requests, one <c>Run</c> per group. If a run of several requests fails, each is re-run alone so that one bad
/// request (an out-of-range token id, say) fails only itself.</para>
/// <para>Lanes (DynamicBatcher.Lanes.cs): a request waits in its priority lane. Queue length counts every accepted
/// request that has not started running, the batch being formed included; past its lane's limit (<c>maxQueueLength</c>,
/// a quarter of it for the low lane, or <c>lanes</c>' own) a request is refused at once.</para>
/// <para>Timeouts: every request of a lane has the same timeout (<c>requestTimeoutMs</c> or its lane's), so a lane's
/// requests expire in arrival order. One timer per replica sweeps the oldest ones instead of a timer per request,
/// whose set-up and tear-down contended on the runtime's timer lock under load.</para>
/// </summary>
internal sealed partial class DynamicBatcher : IAsyncDisposable
{
    private readonly ModelSession _session;
    private readonly InferenceMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly Channel<Pending> _queue;
    private readonly int _maxBatchRows;
    private readonly TimeSpan _maxQueueDelay;
    private readonly Lane[] _lanes;
    private readonly Thread _loop;
    private readonly TaskCompletionSource _loopEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ITimer _timeoutSweep;
    private Task<bool>? _waitForMore;
    private int _waiting;
    private int _running;
    private int _sweeping;
    private int _lastBatchRows = 1;
    private double _virtualTime;
    private readonly long _maxBatchElements;
    private long _completed;
    private long _batches;
    private long _terminatedRuns;
    private long _residence;

    public DynamicBatcher(ModelSession session, InferenceMetrics metrics, TimeProvider time)
    {
        _session = session;
        _metrics = metrics;
        _time = time;
        _maxBatchRows = session.Config.MaxBatchSize;
        _maxBatchElements = session.Config.MaxBatchElements ?? long.MaxValue;
        _maxQueueDelay = TimeSpan.FromMilliseconds(session.Config.MaxQueueDelayMs);
        _lanes = CreateLanes(session.Config);
        _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
        var sweepEvery = TimeSpan.FromMilliseconds(Math.Clamp(_lanes.Min(l => l.Timeout.TotalMilliseconds) / 20, 5, 250));
        _timeoutSweep = time.CreateTimer(static s => ((DynamicBatcher)s!).ExpireOverdue(), this, sweepEvery, sweepEvery);
        // Its own thread, not the thread pool's: a Run blocks its thread for the whole batch (hundreds of ms on a
        // compute-bound model), and pool threads blocked in Run leave Kestrel and the grains none to run on until the
        // pool notices and adds threads, stalling every other request meanwhile.
        _loop = new Thread(RunLoop) { IsBackground = true, Name = $"aifleet batch {session.Model}/{session.Version}" };
        _loop.Start();
    }

    /// <summary>Accepted requests that have not started running.</summary>
    public int QueueLength => Volatile.Read(ref _waiting);

    /// <summary>Accepted requests not yet answered: queued plus the batch running now.</summary>
    public int InFlight => Volatile.Read(ref _waiting) + Volatile.Read(ref _running);

    /// <summary>Requests in the batch that is running now.</summary>
    public int Running => Volatile.Read(ref _running);

    public long CompletedRequests => Interlocked.Read(ref _completed);

    /// <summary>
    /// The summed time answered requests spent in this replica, from enqueue to answer, in <see cref="TimeProvider"/>
    /// timestamp units. Its growth over an interval divided by the interval is the mean number in flight (Little's law).
    /// </summary>
    public long Residence => Interlocked.Read(ref _residence);

    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Runs stopped part-way because no request in them still waited.</summary>
    public long TerminatedRuns => Interlocked.Read(ref _terminatedRuns);

    /// <summary>Queues the request in its lane; refuses at once when the lane is full or the replica is unloading.</summary>
    public Task<InferenceResponse> InferAsync(PreparedRequest request, CancellationToken cancellationToken)
    {
        var lane = _lanes[(int)(request.Request.Priority ?? Priority.Normal)];
        if (Interlocked.Increment(ref lane.Waiting) > lane.Limit)
        {
            Interlocked.Decrement(ref lane.Waiting);
            _metrics.Request(_session.Model, _session.Version, "overloaded");
            throw AiFleetException.Overloaded(
                $"model '{_session.Model}' version {_session.Version}: the replica's queue is full ({lane.Limit} requests) in the {lane.Priority.Name()} lane; retry shortly",
                retryAfterMs: Math.Max(100, _session.Config.MaxQueueDelayMs * 10));
        }

        Interlocked.Increment(ref _waiting);
        var pending = new Pending(this, request, lane, _time.GetTimestamp());
        if (!_queue.Writer.TryWrite(pending))
        {
            LeftQueue(pending);
            throw AiFleetException.ModelUnavailable($"model '{_session.Model}' version {_session.Version}: the replica is unloading; retry");
        }

        lane.Timeline.Enqueue(pending);
        return cancellationToken.CanBeCanceled ? AwaitCancellableAsync(pending, cancellationToken) : pending.Completion.Task;
    }

    /// <summary>One run on zero-filled inputs (dynamic dimensions as 1), so the first request pays no lazy set-up.</summary>
    public Task WarmUpAsync() => Task.Run(() =>
    {
        var values = new OrtValue[_session.Config.Inputs.Count];
        try
        {
            for (var i = 0; i < values.Length; i++)
            {
                var spec = _session.Config.Inputs[i];
                var shape = spec.Shape.Select(d => d < 0 ? 1L : d).ToArray();
                var count = (int)shape.Aggregate(1L, (a, b) => a * b);
                values[i] = spec.Datatype == "FP32"
                    ? OrtValue.CreateTensorValueFromMemory(new float[count], shape)
                    : OrtValue.CreateTensorValueFromMemory(new long[count], shape);
            }

            using var results = _session.Run(values, _session.OutputNames.ToArray());
        }
        finally
        {
            foreach (var v in values)
            {
                v?.Dispose();
            }
        }
    });

    /// <summary>Stops taking requests and returns once every queued one has been answered.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loopEnded.Task.ConfigureAwait(false);
        await _timeoutSweep.DisposeAsync().ConfigureAwait(false);
    }

    private void Execute(List<Pending> batch)
    {
        var started = _time.GetTimestamp();
        var runnable = new List<Pending>(batch.Count);
        foreach (var p in batch)
        {
            if (p.TryStart())
            {
                LeftQueue(p);
                _metrics.QueueTime(_session.Model, _session.Version, p.Lane.Priority, _time.GetElapsedTime(p.EnqueuedAt, started).TotalMilliseconds);
                runnable.Add(p);
            }
        }

        if (runnable.Count == 0)
        {
            return;
        }

        // Almost always one group; the split only happens when shapes or wanted outputs differ.
        var groups = new List<List<Pending>>(1) { new() { runnable[0] } };
        for (var i = 1; i < runnable.Count; i++)
        {
            var group = groups.FirstOrDefault(g => CanShareRun(g[0].Request, runnable[i].Request));
            if (group is null)
            {
                groups.Add([runnable[i]]);
            }
            else
            {
                group.Add(runnable[i]);
            }
        }

        Volatile.Write(ref _running, runnable.Count);
        try
        {
            foreach (var group in groups)
            {
                RunGroup(group, isolateFailures: group.Count > 1);
            }
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }
}
