using System.Runtime.CompilerServices;
using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>
/// A course saga's durable record and its watchers: events appended with where the saga stands at each, writes one at
/// a time (lessons finish concurrently and each is saved as it lands), the console's list of jobs told after each
/// write (<paramref name="report"/>, one-way), and every watcher woken by each event and each write.
/// </summary>
internal sealed class SagaJournal(IPersistentState<SagaState> state, TimeProvider time, Func<SagaStatus> status, Func<SagaStatus, Task> report)
{
    private readonly SemaphoreSlim _writes = new(1, 1);

    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private SagaState S => state.State;

    public void Record(string step, string kind, string message)
    {
        S.UpdatedAt = time.GetUtcNow();
        S.Events.Add(new SagaEvent(S.Events.Count + 1, S.UpdatedAt, step, kind, message, S.Lessons.Count, S.Spend, S.State));
        Changed();
    }

    public async Task SaveAsync()
    {
        await _writes.WaitAsync();
        try
        {
            await state.WriteOwnStateAsync();
        }
        finally
        {
            _writes.Release();
            Changed(); // a state change (an end, say) is saved, if not always recorded as an event
        }

        if (S.Request is not null)
        {
            await report(status());
        }
    }

    public IReadOnlyList<SagaEvent> After(long after) => S.Events.Where(e => e.Seq > after).ToArray();

    /// <summary>The events after <paramref name="after"/>, then each new one as it is recorded, then the final status when the saga ends.</summary>
    public async IAsyncEnumerable<SagaProgress> WatchAsync(long after, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var changed = _changed.Task; // taken before reading, so nothing recorded in between is missed

            // Whether it had ended, read before the events: a saga ends and records its last event in one turn, so
            // that event is among those sent next, even if the state changes while earlier ones are being sent.
            var ended = S.Request is null || SagaStates.IsTerminal(S.State);
            foreach (var e in After(after))
            {
                after = e.Seq;
                yield return new SagaProgress(e, null);
            }

            if (ended)
            {
                yield return new SagaProgress(null, S.Request is null ? null : status());
                yield break;
            }

            await changed.WaitAsync(cancellationToken);
        }
    }

    private void Changed() => Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
