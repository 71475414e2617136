namespace Orleans.AiFleet.GrainInterfaces.Budgets;

/// <summary>A budget request that can never succeed as sent (a negative cost, say): HTTP 400.</summary>
[GenerateSerializer, Alias("aifleet.InvalidBudgetRequestException")]
public sealed class InvalidBudgetRequestException(string message) : Exception(message);

/// <summary>The budget's state could not be read or written, so nothing was granted: HTTP 503, fail closed.</summary>
[GenerateSerializer, Alias("aifleet.BudgetUnavailableException")]
public sealed class BudgetUnavailableException(string message) : Exception(message);

/// <summary>A request refused by a user's limits (HTTP 429): which limit, why, and when a retry could pass.</summary>
[GenerateSerializer, Alias("aifleet.BudgetExceededException")]
public sealed class BudgetExceededException(string limit, string message, TimeSpan? retryAfter) : Exception(message)
{
    /// <summary>One of <see cref="BudgetLimitCodes"/>.</summary>
    [Id(0)]
    public string Limit { get; } = limit;

    [Id(1)]
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>True for the per-minute and parallel limits, which pass again soon; false for spending caps.</summary>
    public bool IsRateLimit => Limit is BudgetLimitCodes.RequestsPerMinute or BudgetLimitCodes.TokensPerMinute or BudgetLimitCodes.MaxParallel;
}
