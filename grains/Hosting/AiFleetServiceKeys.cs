namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>Keys of the keyed services the grains take, so tests can replace them without touching Orleans'.</summary>
public static class AiFleetServiceKeys
{
    /// <summary>The <see cref="TimeProvider"/> of batching deadlines and request timeouts.</summary>
    public const string Clock = "aifleet-clock";
}
