using Orleans.AiFleet.GrainInterfaces.Fleet;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// Applies a version's injected faults to one request before it is routed: the extra latency first, then, at the
/// configured rate, a 503 with its own code (<see cref="Code"/>) that is not retried, so the failure shows in the
/// version's error rate as a real one would.
/// </summary>
internal static class FaultInjection
{
    public const string Code = "injected_fault";

    public static async ValueTask ApplyAsync(VersionFaults faults, string model, string version, CancellationToken cancellationToken)
    {
        if (faults.ExtraLatencyMs > 0)
        {
            await Task.Delay(faults.ExtraLatencyMs, cancellationToken);
        }

        if (faults.ErrorRate > 0 && Random.Shared.NextDouble() < faults.ErrorRate)
        {
            throw new AiFleetException(FailureKind.Unavailable, Code,
                $"model '{model}' version {version} failed: a fault injected by an operator ({faults.ErrorRate:P0} of requests)",
                retryAfter: TimeSpan.FromSeconds(1));
        }
    }
}
