namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>The batch loop, on its own thread: wait for requests, take them by lane, fill the batch until it is time to run.</summary>
internal sealed partial class DynamicBatcher
{
    private Task<bool> WaitForMoreAsync()
    {
        // One outstanding wait at a time: a wait that lost to the deadline is reused by the next round.
        if (_waitForMore is null || _waitForMore.IsCompleted)
        {
            _waitForMore = _queue.Reader.WaitToReadAsync().AsTask();
        }

        return _waitForMore;
    }

    private void RunLoop()
    {
        try
        {
            RunBatches();
        }
        finally
        {
            _loopEnded.TrySetResult();
        }
    }

    /// <summary>The loop's waits block its own thread, which is what the thread is for.</summary>
    private void RunBatches()
    {
        var batch = new List<Pending>(Math.Max(1, _maxBatchRows));
        while (true)
        {
            Drain();
            if (NextLane() is not { } lane)
            {
                if (!WaitForMoreAsync().GetAwaiter().GetResult())
                {
                    return; // completed, and every lane is empty
                }

                continue;
            }

            batch.Clear();
            var first = Take(lane);
            batch.Add(first);
            var rows = first.Request.Rows;
            if (_maxBatchRows > 0)
            {
                rows = Fill(batch, rows, first.EnqueuedAt);
            }

            _lastBatchRows = rows;
            try
            {
                Execute(batch);
            }
            catch (Exception e)
            {
                // Runs already fail their own requests; this is the last guard so the loop itself never dies.
                Fail(batch, e, "error");
            }
        }
    }

    /// <summary>
    /// Adds the next requests by lane until the batch is full or it is time to run; one that does not fit stays
    /// queued. A batch never carries rows of a lower lane than its first request's, so free rows never lengthen a
    /// premium request's run; when a lower lane's turn comes, the batch runs as it is.
    /// </summary>
    private int Fill(List<Pending> batch, int rows, long oldestEnqueuedAt)
    {
        var target = Math.Clamp(_lastBatchRows, 1, _maxBatchRows);
        var floor = batch[0].Lane.Priority;
        var elements = batch[0].Request.Elements;
        while (true)
        {
            Drain();
            while (rows < _maxBatchRows && NextLane() is { } lane)
            {
                var next = lane.Ready.Peek();
                if (rows + next.Request.Rows > _maxBatchRows || elements + next.Request.Elements > _maxBatchElements || lane.Priority < floor)
                {
                    return rows;
                }

                batch.Add(Take(lane));
                rows += next.Request.Rows;
                elements += next.Request.Elements;
            }

            if (rows >= target || rows >= _maxBatchRows)
            {
                return rows;
            }

            var remaining = _maxQueueDelay - _time.GetElapsedTime(oldestEnqueuedAt);
            if (remaining <= TimeSpan.Zero)
            {
                return rows;
            }

            var more = WaitForMoreAsync();
            if (!more.IsCompleted)
            {
                using var cancelDelay = new CancellationTokenSource();
                var delay = Task.Delay(remaining, _time, cancelDelay.Token);
                var winner = Task.WaitAny(more, delay);
                cancelDelay.Cancel();
                if (winner != 0)
                {
                    return rows;
                }
            }

            if (!more.GetAwaiter().GetResult())
            {
                return rows;
            }
        }
    }
}
