namespace Orleans.AiFleet.GrainInterfaces.Budgets;

/// <summary>A budget request that can never succeed as sent (a negative cost, say): HTTP 400.</summary>
[GenerateSerializer, Alias("aifleet.InvalidBudgetRequestException")]
public sealed class InvalidBudgetRequestException(string message) : Exception(message);

/// <summary>The budget's state could not be read or written, so nothing was granted: HTTP 503, fail closed.</summary>
[GenerateSerializer, Alias("aifleet.BudgetUnavailableException")]
public sealed class BudgetUnavailableException(string message) : Exception(message);
