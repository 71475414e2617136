using Orleans.AiFleet.GrainInterfaces.Courses;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>A saga's durable record: where it is, what each finished step produced, and its event log.</summary>
[GenerateSerializer, Alias("aifleet.SagaState")]
public sealed class SagaState
{
    [Id(0)] public string? User { get; set; }
    [Id(1)] public string? UserTier { get; set; }
    [Id(2)] public CourseRequest? Request { get; set; }
    [Id(3)] public string State { get; set; } = "";
    [Id(4)] public string Step { get; set; } = "";
    [Id(5)] public DateTimeOffset CreatedAt { get; set; }
    [Id(6)] public DateTimeOffset UpdatedAt { get; set; }
    [Id(7)] public Guid Reservation { get; set; }
    [Id(8)] public decimal Reserved { get; set; }
    [Id(9)] public string? Outline { get; set; }
    [Id(10)] public Dictionary<int, Lesson> Lessons { get; set; } = [];
    [Id(11)] public string? CourseId { get; set; }
    [Id(12)] public decimal Spend { get; set; }
    [Id(13)] public int Tokens { get; set; }
    [Id(14)] public string? Error { get; set; }
    [Id(15)] public bool CancelRequested { get; set; }
    [Id(16)] public string? EndsAs { get; set; }
    [Id(17)] public List<SagaEvent> Events { get; set; } = [];
    [Id(18)] public int Resumes { get; set; }
    [Id(19)] public decimal Charged { get; set; }
    [Id(20)] public string? Team { get; set; }
}
