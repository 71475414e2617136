using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>What a saga asks its models: the outline's and each lesson's prompt, as chat requests.</summary>
internal sealed partial class CourseGenerationGrain
{
    private ChatRequest Chat(string prompt, int maxTokens, int seed)
    {
        var r = S.Request!;
        return new ChatRequest(S.User!, r.Model, prompt, maxTokens, 0.8, seed,
            r.MinQuality is { } q ? new RoutingPolicy(q) : null, S.UserTier, PaidFrom: S.Reservation, Team: S.Team);
    }

    private string OutlinePrompt() =>
        $"{S.Request!.Subject}: a {S.Request.Level} course in {S.Request.Language}, in {S.Request.Lessons} lessons, and the outline of it is";

    private static string Title(CourseRequest r, int index) => $"{r.Subject}, part {index + 1}";

    private string LessonPrompt(int index) =>
        $"{S.Request!.Subject} ({S.Request.Level}, {S.Request.Language}), lesson {index + 1} of {S.Request.Lessons}: {Title(S.Request, index)}, and";
}
