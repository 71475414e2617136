using Orleans.AiFleet.GrainInterfaces.Courses;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>What the saga tells its watchers: its status, its events, and each new event pushed as it is recorded (<see cref="SagaJournal"/>).</summary>
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

    public Task<IReadOnlyList<SagaEvent>> GetEventsAsync(long after) => Task.FromResult(Journal.After(after));

    public IAsyncEnumerable<SagaProgress> WatchAsync(long after, CancellationToken cancellationToken = default) => Journal.WatchAsync(after, cancellationToken);
}
