using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>Whose doing a failure was: what every retry, breaker, fallback and experiment tally decides from.</summary>
internal enum FaultOwner
{
    /// <summary>The request as sent: bad input, an unknown model, a refused key, a budget or rate limit.</summary>
    Caller,

    /// <summary>The caller hung up or timed out; nobody failed.</summary>
    Cancelled,

    /// <summary>The replica that was called: its silo gone or unreachable, or it is unloading. Another replica may serve.</summary>
    Replica,

    /// <summary>The model as a whole: too slow, every circuit open. Another model may serve.</summary>
    Model,

    /// <summary>The model's queue is full: another model may serve, but the version did nothing wrong.</summary>
    Busy,

    /// <summary>Anything else: a defect, or a failure of the version's own (a bad graph, an injected fault).</summary>
    Other,
}

/// <summary>The one place that sorts failures; the predicates below are what routing asks of it.</summary>
internal static class Faults
{
    public static FaultOwner Classify(Exception e, CancellationToken cancellationToken = default) => e switch
    {
        OperationCanceledException when cancellationToken.IsCancellationRequested => FaultOwner.Cancelled,
        OrleansMessageRejectionException or SiloUnavailableException or TimeoutException => FaultOwner.Replica,
        AiFleetException { Code: FailureCodes.ModelUnavailable } => FaultOwner.Replica,
        AiFleetException { Code: FailureCodes.Overloaded } => FaultOwner.Busy,
        AiFleetException { Code: FailureCodes.Timeout } or BrokenCircuitException or TimeoutRejectedException => FaultOwner.Model,
        AiFleetException { Kind: FailureKind.InvalidArgument or FailureKind.NotFound or FailureKind.Forbidden or FailureKind.Unauthorized
            or FailureKind.RateLimited or FailureKind.PayloadTooLarge or FailureKind.Conflict } => FaultOwner.Caller,
        _ => FaultOwner.Other,
    };

    /// <summary>Counted by a replica's circuit breaker, and worth a retry on another replica of the same version.</summary>
    public static bool IsReplicaFault(Exception e) => Classify(e) == FaultOwner.Replica;

    /// <summary>After which another model of a chat's fallback chain is worth trying.</summary>
    public static bool FallsBack(Exception e) => Classify(e) is FaultOwner.Replica or FaultOwner.Model or FaultOwner.Busy;

    /// <summary>Counted as the version's error by experiments and the per-version metrics.</summary>
    public static bool CountsAgainstVersion(Exception e, CancellationToken cancellationToken) =>
        Classify(e, cancellationToken) is not (FaultOwner.Caller or FaultOwner.Cancelled or FaultOwner.Busy);
}
