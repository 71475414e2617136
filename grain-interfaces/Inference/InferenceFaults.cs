namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>Which failures belong to the model that was asked rather than to the request.</summary>
public static class InferenceFaults
{
    /// <summary>
    /// The model could not answer — unavailable, overloaded, too slow, or its silo unreachable — so another model (or
    /// replica) may: what a fallback chain moves on after. Bad input, budgets and cancellation are not among them.
    /// </summary>
    public static bool IsModelFault(Exception e) =>
        e is AiFleetException { Code: FailureCodes.ModelUnavailable or FailureCodes.Overloaded or FailureCodes.Timeout }
            or OrleansMessageRejectionException or SiloUnavailableException or TimeoutException;
}
