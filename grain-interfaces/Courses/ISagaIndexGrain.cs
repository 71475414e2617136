using Orleans.Concurrency;

namespace Orleans.AiFleet.GrainInterfaces.Courses;

/// <summary>
/// The cluster's list of recent course-generation sagas (key 0) for the console: each saga reports its status after
/// every save, one-way, so the index never slows or fails a saga. It keeps the most recently updated ones.
/// </summary>
[Alias("aifleet.ISagaIndexGrain")]
public interface ISagaIndexGrain : IGrainWithIntegerKey
{
    [Alias("Record"), OneWay]
    Task RecordAsync(SagaStatus status);

    /// <summary>The most recently updated sagas, newest first; only <paramref name="user"/>'s when given.</summary>
    [Alias("List")]
    Task<IReadOnlyList<SagaStatus>> ListAsync(string? user, int limit);
}
