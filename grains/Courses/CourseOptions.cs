namespace Orleans.AiFleet.Grains.Courses;

/// <summary>Course sagas' settings, bound from <c>AiFleet:Courses</c>.</summary>
public sealed class CourseOptions
{
    public const string SectionName = "AiFleet:Courses";

    /// <summary>
    /// How often a running saga's reminder fires: the longest a saga whose silo died waits, once Orleans has declared
    /// the silo dead, before it resumes on another (any call to it resumes it sooner). Orleans' own minimum reminder
    /// period (one minute by default) bounds it from below.
    /// </summary>
    public TimeSpan ResumeEvery { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a failed or cancelled saga's state is kept (for its owner to read why) before it is deleted, so
    /// abandoned jobs do not pile up in storage. Succeeded sagas are kept: their course points at them.
    /// </summary>
    public TimeSpan KeepEndedFor { get; set; } = TimeSpan.FromDays(7);
}
