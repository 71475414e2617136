using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>Requests that leave before their answer: cancelled by their caller, or past the model's request timeout.</summary>
internal sealed partial class DynamicBatcher
{
    /// <summary>A request's answer; its caller's cancellation takes it off the queue, or out of its run.</summary>
    private static async Task<InferenceResponse> AwaitCancellableAsync(Pending pending, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(static (s, token) => ((Pending)s!).Cancel(token), pending))
        {
            return await pending.Completion.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Fails the requests that have waited past their lane's timeout; the oldest come first, so each lane's sweep stops early.</summary>
    private void ExpireOverdue()
    {
        // Timer callbacks may overlap; two sweeps peeking the same head could each dequeue a different request.
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        try
        {
            ExpireOverdueCore();
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    private void ExpireOverdueCore()
    {
        foreach (var lane in _lanes)
        {
            ExpireOverdue(lane);
        }
    }

    private void ExpireOverdue(Lane lane)
    {
        while (lane.Timeline.TryPeek(out var oldest))
        {
            if (!oldest.Completion.Task.IsCompleted && _time.GetElapsedTime(oldest.EnqueuedAt) < lane.Timeout)
            {
                return;
            }

            lane.Timeline.TryDequeue(out _);
            if (oldest.Completion.Task.IsCompleted)
            {
                continue;
            }

            // A request already in a running batch cannot be withdrawn; failing it here drops its late result.
            if (oldest.TryAbandon())
            {
                LeftQueue(oldest);
            }

            if (oldest.Completion.TrySetException(AiFleetException.Timeout(
                $"model '{_session.Model}' version {_session.Version} did not answer within {lane.Timeout.TotalMilliseconds:0} ms (the {lane.Priority.Name()} lane's request timeout)")))
            {
                _metrics.Request(_session.Model, _session.Version, "timeout");
                oldest.Run?.Withdraw(oldest);
            }
        }
    }

    private void Cancel(Pending pending, CancellationToken token)
    {
        if (pending.TryAbandon())
        {
            LeftQueue(pending);
            _metrics.Request(_session.Model, _session.Version, "cancelled");
            pending.Completion.TrySetCanceled(token);
        }
        else if (pending.Completion.TrySetCanceled(token))
        {
            // Already running: its caller is answered now, and when no one in the run still waits, the run stops. A
            // run still being set up has no Run yet; its constructor sees the answered request and counts it off.
            _metrics.Request(_session.Model, _session.Version, "cancelled");
            pending.Run?.Withdraw(pending);
        }
    }
}
