namespace Orleans.AiFleet.GrainInterfaces;

/// <summary>
/// The closed set of ways a request can fail. Each kind has one status per protocol (client-api's FailureRenderer);
/// anything that is not one of these is a defect and is answered as one, never dressed up as cluster trouble.
/// </summary>
public enum FailureKind
{
    /// <summary>The request can never succeed as sent; <see cref="AiFleetException.Field"/> names the culprit (400).</summary>
    InvalidArgument,

    /// <summary>No key, or a key that is unknown or revoked (401).</summary>
    Unauthorized,

    /// <summary>The key may not do this (403).</summary>
    Forbidden,

    /// <summary>No such model, version, key, job or course (404).</summary>
    NotFound,

    /// <summary>The thing's present state forbids this (a running experiment, a version that takes traffic) (409).</summary>
    Conflict,

    /// <summary>A body, string or array over its bound (413).</summary>
    PayloadTooLarge,

    /// <summary>A rate limit, a spending cap or a full queue; retry after <see cref="AiFleetException.RetryAfter"/> (429).</summary>
    RateLimited,

    /// <summary>Real cluster trouble: a model, a silo or a store unreachable for now; retry after (503).</summary>
    Unavailable,

    /// <summary>The work did not finish in its time (504).</summary>
    Timeout,
}
