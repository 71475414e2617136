namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// One write at a time, shared by every change made while one runs: a caller waits until a write that includes its
/// change has finished (or failed), so under concurrency one write covers many calls. Every waiter is completed on
/// every path, also when the write fails synchronously (a store that is down fails at once).
/// Not thread-safe: for one grain activation's turns.
/// </summary>
internal sealed class CoalescedWrites
{
    private TaskCompletionSource? _next;
    private bool _writing;

    /// <summary>
    /// Completes when a write (<paramref name="write"/>: one write of everything changed so far) that started after this
    /// call has succeeded; faults with its failure.
    /// </summary>
    public Task WriteAsync(Func<Task> write)
    {
        _next ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var mine = _next.Task;
        if (!_writing)
        {
            // The flag is set before the loop starts, not from its task: a loop that ends synchronously would otherwise
            // clear it before `??=` stored its finished task, and no write would ever start again.
            _writing = true;
            _ = LoopAsync(write);
        }

        return mine;
    }

    /// <summary>Writes until nothing is waiting; never throws (every failure goes to that write's waiters).</summary>
    private async Task LoopAsync(Func<Task> write)
    {
        while (_next is { } done)
        {
            _next = null;
            try
            {
                await write();
                done.SetResult();
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }

        _writing = false;
    }
}
