using System.Runtime.CompilerServices;
using Orleans.AiFleet.GrainInterfaces.Courses;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>What the saga tells its watchers: its status, its events, and each new event pushed as it is recorded.</summary>
internal sealed partial class CourseGenerationGrain
{
    public Task<SagaStatus?> GetStatusAsync() => Task.FromResult(S.Request is null ? Unknown<SagaStatus>() : Status());

    /// <summary>
    /// A lookup of a saga that does not exist (a made-up id): answered null, and the empty activation ends at once,
    /// so thousands of such lookups leave no activations behind.
    /// </summary>
    private T? Unknown<T>()
        where T : class
    {
        if (_admitting is null)
        {
            DeactivateOnIdle();
        }

        return null;
    }

    public Task<IReadOnlyList<SagaEvent>> GetEventsAsync(long after) =>
        Task.FromResult<IReadOnlyList<SagaEvent>>(S.Events.Where(e => e.Seq > after).ToArray());

    public async IAsyncEnumerable<SagaProgress> WatchAsync(long after, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var changed = _changed.Task; // taken before reading, so nothing recorded in between is missed

            // Whether it had ended, read before the events: a saga ends and records its last event in one turn, so
            // that event is among those sent next, even if the state changes while earlier ones are being sent.
            var ended = S.Request is null || SagaStates.IsTerminal(S.State);
            foreach (var e in S.Events.Where(e => e.Seq > after).ToArray())
            {
                after = e.Seq;
                yield return new SagaProgress(e, null);
            }

            if (ended)
            {
                yield return new SagaProgress(null, S.Request is null ? null : Status());
                yield break;
            }

            await changed.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Wakes the watchers: something was recorded or saved.</summary>
    private void Changed() => Interlocked.Exchange(ref _changed, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
