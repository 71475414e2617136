using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.GrainInterfaces;

/// <summary>
/// The one exception type that crosses the grain boundary: a <see cref="FailureKind"/>, a stable machine-readable
/// <see cref="Code"/>, the request field at fault when there is one, and when a retry may pass. Grains throw it through
/// the factories below; client-api classifies everything else once (FailureClassifier) and renders it per protocol.
/// </summary>
[GenerateSerializer, Alias("aifleet.AiFleetException")]
public sealed class AiFleetException(FailureKind kind, string code, string message, string? field = null, TimeSpan? retryAfter = null)
    : Exception(message)
{
    [Id(0)]
    public FailureKind Kind { get; } = kind;

    /// <summary>One of <see cref="FailureCodes"/> or <see cref="BudgetLimitCodes"/>-derived codes.</summary>
    [Id(1)]
    public string Code { get; } = code;

    /// <summary>The request field at fault (<c>model</c>, <c>messages[0].content</c>), or null.</summary>
    [Id(2)]
    public string? Field { get; } = field;

    /// <summary>When a retry could pass (rate limits, overload, unavailability), or null.</summary>
    [Id(3)]
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>For spending and rate refusals: the <see cref="BudgetLimitCodes"/> limit that refused.</summary>
    [Id(4)]
    public string? Limit { get; init; }

    public static AiFleetException Invalid(string message, string? field = null) =>
        new(FailureKind.InvalidArgument, FailureCodes.InvalidRequest, message, field);

    public static AiFleetException TooLarge(string message, string? field = null) =>
        new(FailureKind.PayloadTooLarge, FailureCodes.TooLarge, message, field);

    public static AiFleetException NotFound(string message, string code = FailureCodes.NotFound, string? field = null) =>
        new(FailureKind.NotFound, code, message, field);

    /// <summary>No such model, or no such version of it.</summary>
    public static AiFleetException ModelNotFound(string message) => NotFound(message, FailureCodes.ModelNotFound, "model");

    /// <summary>The model's tier is not one the caller's user tier may use.</summary>
    public static AiFleetException ModelNotAllowed(string message) =>
        new(FailureKind.Forbidden, FailureCodes.ModelNotAllowed, message, "model");

    /// <summary>The state of what the request names forbids it now; the message says what would allow it.</summary>
    public static AiFleetException Conflict(string message, string? field = null) =>
        new(FailureKind.Conflict, FailureCodes.Conflict, message, field);

    public static AiFleetException Forbidden(string message) => new(FailureKind.Forbidden, FailureCodes.Forbidden, message);

    /// <summary>A replica's queue (or a provider) is full: back-pressure, retry soon.</summary>
    public static AiFleetException Overloaded(string message, int retryAfterMs) =>
        new(FailureKind.RateLimited, FailureCodes.Overloaded, message, retryAfter: TimeSpan.FromMilliseconds(retryAfterMs));

    /// <summary>A user's limit refused the request: a rate limit (passes again soon) or a spending cap.</summary>
    public static AiFleetException OverBudget(string limit, string message, TimeSpan? retryAfter) =>
        new(FailureKind.RateLimited, IsRateLimit(limit) ? FailureCodes.RateLimited : FailureCodes.BudgetExceeded, message, retryAfter: retryAfter)
        {
            Limit = limit,
        };

    public static AiFleetException Timeout(string message) => new(FailureKind.Timeout, FailureCodes.Timeout, message);

    /// <summary>The model exists but cannot serve now: unloaded, failed to load, or its provider failing.</summary>
    public static AiFleetException ModelUnavailable(string message) =>
        new(FailureKind.Unavailable, FailureCodes.ModelUnavailable, message, retryAfter: TimeSpan.FromSeconds(1));

    /// <summary>A store (budget state, ledger, grain state) could not be read or written, so nothing was granted.</summary>
    public static AiFleetException StoreUnavailable(string message) =>
        new(FailureKind.Unavailable, FailureCodes.StoreUnavailable, message, retryAfter: TimeSpan.FromSeconds(1));

    /// <summary>True for the per-minute and parallel limits, which pass again soon; false for spending caps.</summary>
    private static bool IsRateLimit(string? limit) =>
        limit is BudgetLimitCodes.RequestsPerMinute or BudgetLimitCodes.TokensPerMinute or BudgetLimitCodes.MaxParallel;
}

/// <summary>The stable codes of <see cref="AiFleetException.Code"/>, shown to clients in every protocol's error body.</summary>
public static class FailureCodes
{
    public const string InvalidRequest = "invalid_request_error";
    public const string Conflict = "conflict";
    public const string TooLarge = "payload_too_large";
    public const string NotFound = "not_found";
    public const string ModelNotFound = "model_not_found";
    public const string ModelNotAllowed = "model_not_allowed";
    public const string Forbidden = "forbidden";
    public const string Unauthorized = "invalid_api_key";
    public const string Overloaded = "overloaded";
    public const string RateLimited = "rate_limited";
    public const string BudgetExceeded = "budget_exceeded";
    public const string Timeout = "timeout";
    public const string ModelUnavailable = "model_unavailable";
    public const string StoreUnavailable = "store_unavailable";
    public const string ClusterUnavailable = "service_unavailable";
    public const string Internal = "internal_error";
}
