namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>Fleet settings, bound from <c>AiFleet:Fleet</c>.</summary>
public sealed class FleetOptions
{
    public const string SectionName = "AiFleet:Fleet";

    /// <summary>
    /// How long a replica leaving rotation keeps serving what routers still send it before it is unloaded: routers
    /// refresh their tables every second, so twice that by default.
    /// </summary>
    public TimeSpan DrainAfter { get; set; } = TimeSpan.FromSeconds(2);
}
