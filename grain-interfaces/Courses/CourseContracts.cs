namespace Orleans.AiFleet.GrainInterfaces.Courses;

/// <summary>
/// What a user asks a course generation for: a subject, a level, how many lessons, the language, the model (a name
/// or <c>auto</c>, with an optional quality floor), the most the whole course may cost, and the length of a lesson.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.CourseRequest")]
public sealed record CourseRequest(
    [property: Id(0)] string Subject,
    [property: Id(1)] string Level,
    [property: Id(2)] int Lessons,
    [property: Id(3)] string Language,
    [property: Id(4)] string Model = "auto",
    [property: Id(5)] double? MinQuality = null,
    [property: Id(6)] decimal? BudgetCeiling = null,
    [property: Id(7)] int LessonTokens = 160)
{
    public const int MaxLessons = 50;
    public const int MaxLessonTokens = 512;

    /// <summary>Every problem with the request, each naming the field; empty when it is valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Subject) || Subject.Length > 200)
        {
            errors.Add("'subject' must be 1 to 200 characters");
        }

        if (string.IsNullOrWhiteSpace(Level) || Level.Length > 50)
        {
            errors.Add("'level' must be 1 to 50 characters");
        }

        if (Lessons is < 1 or > MaxLessons)
        {
            errors.Add($"'lessons' must be from 1 to {MaxLessons}");
        }

        if (string.IsNullOrWhiteSpace(Language) || Language.Length > 35)
        {
            errors.Add("'language' must be 1 to 35 characters");
        }

        if (string.IsNullOrWhiteSpace(Model))
        {
            errors.Add("'model' must name a chat model or be 'auto'");
        }

        if (MinQuality is < 0 or > 1)
        {
            errors.Add("'min_quality' must be from 0 to 1");
        }

        if (BudgetCeiling is <= 0)
        {
            errors.Add("'budget_ceiling' must be a positive amount of dollars");
        }

        if (LessonTokens is < 1 or > MaxLessonTokens)
        {
            errors.Add($"'lesson_tokens' must be from 1 to {MaxLessonTokens}");
        }

        return errors;
    }
}

/// <summary>Where a course generation stands.</summary>
public static class SagaStates
{
    public const string Running = "running";
    public const string Compensating = "compensating";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static bool IsTerminal(string state) => state is Succeeded or Failed or Cancelled;
}

/// <summary>The steps, in order; each is persisted before the next begins.</summary>
public static class SagaSteps
{
    public const string Validate = "validate";
    public const string Reserve = "reserve";
    public const string Outline = "outline";
    public const string Lessons = "lessons";
    public const string CreateCourse = "create_course";
    public const string Settle = "settle";
    public const string Compensate = "compensate";
    public const string Done = "done";
}

/// <summary>One item of a saga's pushed progress: an event as it is recorded, or, last, the saga's final status.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.SagaProgress")]
public sealed record SagaProgress(
    [property: Id(0)] SagaEvent? Event,
    [property: Id(1)] SagaStatus? End);

/// <summary>Something that happened in a saga, numbered from 1: what the progress stream sends.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.SagaEvent")]
public sealed record SagaEvent(
    [property: Id(0)] long Seq,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string Step,
    [property: Id(3)] string Kind,
    [property: Id(4)] string Message,
    [property: Id(5)] int LessonsDone,
    [property: Id(6)] decimal Spend,
    [property: Id(7)] string State);

/// <summary>
/// A saga as its owner sees it: state, current step, lessons done of total, spend so far (the cost of the model calls
/// that finished), the error if any, how many times it was resumed after its activation ended, the silo running it
/// now, and what was charged to the budget once it ended (its spend, whether it succeeded, failed or was cancelled).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.SagaStatus")]
public sealed record SagaStatus(
    [property: Id(0)] string Id,
    [property: Id(1)] string User,
    [property: Id(2)] string State,
    [property: Id(3)] string Step,
    [property: Id(4)] int LessonsDone,
    [property: Id(5)] int LessonsTotal,
    [property: Id(6)] decimal Spend,
    [property: Id(7)] decimal Reserved,
    [property: Id(8)] string? Error,
    [property: Id(9)] string? CourseId,
    [property: Id(10)] DateTimeOffset CreatedAt,
    [property: Id(11)] DateTimeOffset UpdatedAt,
    [property: Id(12)] CourseRequest Request,
    [property: Id(13)] int Resumes,
    [property: Id(14)] string Silo,
    [property: Id(15)] decimal Charged = 0m);

/// <summary>One lesson of a course, with the model that wrote it and what it cost.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.Lesson")]
public sealed record Lesson(
    [property: Id(0)] int Index,
    [property: Id(1)] string Title,
    [property: Id(2)] string Text,
    [property: Id(3)] string Model,
    [property: Id(4)] int Tokens,
    [property: Id(5)] decimal Cost);

/// <summary>A generated course: its request, outline and lessons, and the saga that made it.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.Course")]
public sealed record Course(
    [property: Id(0)] string Id,
    [property: Id(1)] string User,
    [property: Id(2)] string Subject,
    [property: Id(3)] string Level,
    [property: Id(4)] string Language,
    [property: Id(5)] string Outline,
    [property: Id(6)] IReadOnlyList<Lesson> Lessons,
    [property: Id(7)] string SagaId,
    [property: Id(8)] DateTimeOffset CreatedAt,
    [property: Id(9)] decimal Cost);

/// <summary>A line of a user's course list.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.CourseSummary")]
public sealed record CourseSummary(
    [property: Id(0)] string Id,
    [property: Id(1)] string Subject,
    [property: Id(2)] string Level,
    [property: Id(3)] int Lessons,
    [property: Id(4)] DateTimeOffset CreatedAt);

/// <summary>A page of a user's courses, newest first.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.CoursePage")]
public sealed record CoursePage(
    [property: Id(0)] IReadOnlyList<CourseSummary> Items,
    [property: Id(1)] int Total,
    [property: Id(2)] int Offset,
    [property: Id(3)] int Limit);
