namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>Names of the grain storage providers the grains persist to.</summary>
public static class AiFleetStorage
{
    /// <summary>Fleet, budget and saga state: memory in the embedded default, Redis in cluster mode.</summary>
    public const string Name = "aifleet";
}
