namespace Orleans.AiFleet.GrainInterfaces.Courses;

/// <summary>
/// One course generation (key: the saga id). Its steps run durably: each is persisted before the next begins, a
/// reminder resumes it on another silo if its silo dies, and a cancel or a permanent failure runs compensation.
/// </summary>
[Alias("aifleet.ICourseGenerationGrain")]
public interface ICourseGenerationGrain : IGrainWithStringKey
{
    /// <summary>
    /// Starts the saga for <paramref name="user"/> (whose key's user tier is <paramref name="userTier"/>); when it was
    /// started before, its status as it is (idempotent).
    /// </summary>
    [Alias("Start")]
    Task<SagaStatus> StartAsync(string user, string? userTier, CourseRequest request, string? team = null);

    /// <summary>The saga's status; null when it was never started.</summary>
    [Alias("GetStatus")]
    Task<SagaStatus?> GetStatusAsync();

    /// <summary>The saga's events after sequence number <paramref name="after"/>.</summary>
    [Alias("GetEvents")]
    Task<IReadOnlyList<SagaEvent>> GetEventsAsync(long after);

    /// <summary>
    /// The saga's events after <paramref name="after"/>, then each one as the saga records it (pushed, not polled),
    /// ending with the final status once the saga has ended (or a null status when it was never started).
    /// </summary>
    [Alias("Watch")]
    IAsyncEnumerable<SagaProgress> WatchAsync(long after, CancellationToken cancellationToken = default);

    /// <summary>Asks the saga to stop: compensation deletes what it created and releases its reservation.</summary>
    [Alias("Cancel")]
    Task<SagaStatus?> CancelAsync();
}

/// <summary>A course record (key: the course id), written once by its saga and deleted by its compensation.</summary>
[Alias("aifleet.ICourseGrain")]
public interface ICourseGrain : IGrainWithStringKey
{
    /// <summary>Stores the course; storing the same course again changes nothing.</summary>
    [Alias("Create")]
    Task CreateAsync(Course course);

    [Alias("Get")]
    Task<Course?> GetAsync();

    [Alias("Delete")]
    Task DeleteAsync();
}

/// <summary>A user's courses (key: the user), newest first.</summary>
[Alias("aifleet.IUserCoursesGrain")]
public interface IUserCoursesGrain : IGrainWithStringKey
{
    /// <summary>Adds a course to the list; adding it again changes nothing.</summary>
    [Alias("Add")]
    Task AddAsync(CourseSummary course);

    [Alias("Remove")]
    Task RemoveAsync(string courseId);

    [Alias("List")]
    Task<CoursePage> ListAsync(int offset, int limit);
}
