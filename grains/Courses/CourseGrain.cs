using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>The stored course of one key.</summary>
[GenerateSerializer, Alias("aifleet.CourseState")]
public sealed class CourseState
{
    [Id(0)]
    public Course? Course { get; set; }
}

/// <summary>A course record: created once by its saga (again is a no-op), deleted by the saga's compensation.</summary>
internal sealed class CourseGrain([PersistentState("course", AiFleetStorage.Name)] IPersistentState<CourseState> state) : Grain, ICourseGrain
{
    public async Task CreateAsync(Course course)
    {
        if (state.State.Course is { } existing && existing.SagaId == course.SagaId)
        {
            return; // a resumed saga storing what it stored before
        }

        state.State.Course = course;
        await state.WriteOwnStateAsync();
    }

    public Task<Course?> GetAsync()
    {
        if (state.State.Course is null)
        {
            DeactivateOnIdle(); // a made-up id: no activation is kept for it
        }

        return Task.FromResult(state.State.Course);
    }

    public async Task DeleteAsync()
    {
        if (state.State.Course is null && !state.RecordExists)
        {
            return;
        }

        state.State.Course = null;
        await state.ClearStateAsync();
    }
}

/// <summary>One user's course list.</summary>
[GenerateSerializer, Alias("aifleet.UserCoursesState")]
public sealed class UserCoursesState
{
    [Id(0)]
    public List<CourseSummary> Courses { get; set; } = [];
}

/// <summary>The index behind <c>GET /v1/courses</c>: a user's courses, newest first, added and removed idempotently.</summary>
internal sealed class UserCoursesGrain([PersistentState("usercourses", AiFleetStorage.Name)] IPersistentState<UserCoursesState> state) : Grain, IUserCoursesGrain
{
    public async Task AddAsync(CourseSummary course)
    {
        if (state.State.Courses.Any(c => c.Id == course.Id))
        {
            return;
        }

        state.State.Courses.Add(course);
        await state.WriteOwnStateAsync();
    }

    public async Task RemoveAsync(string courseId)
    {
        if (state.State.Courses.RemoveAll(c => c.Id == courseId) > 0)
        {
            await state.WriteOwnStateAsync();
        }
    }

    public Task<CoursePage> ListAsync(int offset, int limit)
    {
        var all = state.State.Courses.OrderByDescending(c => c.CreatedAt).ThenBy(c => c.Id, StringComparer.Ordinal).ToList();
        return Task.FromResult(new CoursePage(all.Skip(offset).Take(limit).ToArray(), all.Count, offset, limit));
    }
}
