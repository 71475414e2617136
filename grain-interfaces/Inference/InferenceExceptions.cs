namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>Base of the errors an inference call can end with; each maps to one protocol status code.</summary>
[GenerateSerializer, Alias("aifleet.InferenceException")]
public abstract class InferenceException(string message) : Exception(message);

/// <summary>No such model, or no such version of it (HTTP 404).</summary>
[GenerateSerializer, Alias("aifleet.ModelNotFoundException")]
public sealed class ModelNotFoundException(string message) : InferenceException(message);

/// <summary>The inputs do not fit the model: names, datatypes, shapes or data lengths (HTTP 400).</summary>
[GenerateSerializer, Alias("aifleet.InvalidInferenceRequestException")]
public sealed class InvalidInferenceRequestException(string message) : InferenceException(message);

/// <summary>The replica's queue is full; retry after <see cref="RetryAfterMs"/> (HTTP 429 with Retry-After).</summary>
[GenerateSerializer, Alias("aifleet.ReplicaOverloadedException")]
public sealed class ReplicaOverloadedException(string message, int retryAfterMs) : InferenceException(message)
{
    /// <summary>How long the caller should wait before trying again.</summary>
    [Id(0)]
    public int RetryAfterMs { get; } = retryAfterMs;
}

/// <summary>The request did not finish within the model's request timeout (HTTP 504).</summary>
[GenerateSerializer, Alias("aifleet.InferenceTimeoutException")]
public sealed class InferenceTimeoutException(string message) : InferenceException(message);

/// <summary>The model exists but cannot serve now: unloaded, or failed to load (HTTP 503).</summary>
[GenerateSerializer, Alias("aifleet.ModelUnavailableException")]
public sealed class ModelUnavailableException(string message) : InferenceException(message);

/// <summary>The model's tier is not one the caller's user tier may use (HTTP 403).</summary>
[GenerateSerializer, Alias("aifleet.ModelNotAllowedException")]
public sealed class ModelNotAllowedException(string message) : InferenceException(message);

/// <summary>Which failures belong to the model that was asked rather than to the request.</summary>
public static class InferenceFaults
{
    /// <summary>
    /// The model could not answer — unavailable, overloaded, too slow, or its silo unreachable — so another model (or
    /// replica) may: what a fallback chain moves on after. Bad input, budgets and cancellation are not among them.
    /// </summary>
    public static bool IsModelFault(Exception e) =>
        e is ModelUnavailableException or ReplicaOverloadedException or InferenceTimeoutException
            or OrleansMessageRejectionException or SiloUnavailableException or TimeoutException;
}
