namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>
/// A request's lane in a replica's queue: higher lanes are served first, and a request that has waited long enough
/// is served as if it were in a higher lane (so no lane starves). A user's tier sets the highest lane their requests
/// may use (routing.json's <c>lanes</c>); a caller may ask for a lower one, never a higher.
/// </summary>
public enum Priority
{
    Low = 0,
    Normal = 1,
    High = 2,
}

/// <summary>The lanes' names as written in configuration and requests: <c>low</c>, <c>normal</c>, <c>high</c>.</summary>
public static class Priorities
{
    private static readonly string[] LaneNames = ["low", "normal", "high"];

    /// <summary>The names as an error message lists them: <c>low, normal, high</c>.</summary>
    public static readonly string List = string.Join(", ", LaneNames);

    public static string Name(this Priority priority) => LaneNames[(int)priority];

    public static bool TryParse(string? name, out Priority priority)
    {
        var i = name is null ? -1 : Array.IndexOf(LaneNames, name.ToLowerInvariant());
        priority = i < 0 ? Priority.Normal : (Priority)i;
        return i >= 0;
    }
}
