using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>A request waiting in the batcher, and the run that carries it.</summary>
internal sealed partial class DynamicBatcher
{
    private sealed class Pending(DynamicBatcher owner, PreparedRequest request, Lane lane, long enqueuedAt)
    {
        private const int Queued = 0;
        private const int Running = 1;
        private const int Abandoned = 2;
        private int _state;

        public PreparedRequest Request { get; } = request;
        public Lane Lane { get; } = lane;
        public long EnqueuedAt { get; } = enqueuedAt;

        /// <summary>The run carrying it, once its batch has started; null before.</summary>
        public BatchRun? Run { get; set; }

        /// <summary>The trace context of the call that queued it (the grain call's span), for the batch span's links.</summary>
        public ActivityContext Trace { get; } = Activity.Current?.Context ?? default;
        // Completed inline from the batch loop: the waiting side is Orleans, which posts its continuation to the
        // activation's scheduler anyway, so an extra thread-pool hop per request would only add latency.
        public TaskCompletionSource<InferenceResponse> Completion { get; } = new();
        public bool IsAbandoned => Volatile.Read(ref _state) == Abandoned;
        public bool TryStart() => Interlocked.CompareExchange(ref _state, Running, Queued) == Queued;
        public bool TryAbandon() => Interlocked.CompareExchange(ref _state, Abandoned, Queued) == Queued;

        /// <summary>True the first time only: its run stops counting on it.</summary>
        public bool TryWithdraw() => Interlocked.Exchange(ref _withdrawn, 1) == 0;

        private int _withdrawn;

        public void Cancel(CancellationToken token) => owner.Cancel(this, token);
    }

    /// <summary>
    /// One ONNX Runtime run and the requests still waiting for it. When the last of them is cancelled or times out,
    /// the run is told to stop (<see cref="RunOptions.Terminate"/>, checked by the runtime between nodes), so a long
    /// run no one waits for does not hold the replica to its end.
    /// </summary>
    private sealed class BatchRun : IDisposable
    {
        private readonly Lock _lock = new();
        private int _waiting;
        private bool _done;

        public BatchRun(List<Pending> group)
        {
            _waiting = group.Count;
            foreach (var p in group)
            {
                p.Run = this;
            }

            // A request cancelled between its start and this point was answered, but not counted off here. The
            // barrier orders the writes of Run above before these reads; Cancel reads Run after its own (interlocked)
            // answer, so one side or both always count the request off.
            Interlocked.MemoryBarrier();
            foreach (var p in group)
            {
                if (p.Completion.Task.IsCompleted)
                {
                    Withdraw(p);
                }
            }
        }

        public RunOptions Options { get; } = ModelSession.NewRunOptions();

        public bool Terminated { get; private set; }

        /// <summary>Counts <paramref name="pending"/> off (once, however many paths report it).</summary>
        public void Withdraw(Pending pending)
        {
            if (!pending.TryWithdraw())
            {
                return;
            }

            lock (_lock)
            {
                if (--_waiting == 0 && !_done)
                {
                    Options.Terminate = true;
                    Terminated = true;
                }
            }
        }

        public void Dispose()
        {
            lock (_lock)
            {
                _done = true;
            }

            Options.Dispose();
        }
    }
}
