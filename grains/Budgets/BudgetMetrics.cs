using System.Diagnostics.Metrics;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// What budgets do, for alerts: money settled by model and user tier, requests refused by the limit that refused them,
/// store failures, and the holds open on this silo's budgets (summed over silos, every open hold once).
/// </summary>
internal sealed class BudgetMetrics
{
    private readonly Counter<double> _spend;
    private readonly Counter<long> _refusals;
    private readonly Counter<long> _storeFailures;
    private readonly UpDownCounter<long> _openHolds;
    private readonly Counter<long> _childCalls;

    public BudgetMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(InferenceMetrics.MeterName);
        _spend = meter.CreateCounter<double>("aifleet.budget.spend_dollars", "{USD}", "Money charged to users' budgets (settled), by model and user tier");
        _openHolds = meter.CreateUpDownCounter<long>("aifleet.budget.open_holds", "{hold}", "Budget holds open (reserved, not yet settled, not yet seen expired by their budget's next call) on the budgets active on this silo");
        _storeFailures = meter.CreateCounter<long>("aifleet.budget.store_failures", "{failure}", "Budget state or ledger reads and writes that failed (the request was refused or its settlement left queued), by operation");
        _refusals = meter.CreateCounter<long>("aifleet.budget.refusals", "{request}", "Requests a budget refused, by the limit that refused them (per_request_cap, max_parallel, daily_cap, monthly_cap, requests_per_minute, tokens_per_minute) and the level whose limit it is (user, team, org)");
        _childCalls = meter.CreateCounter<long>("aifleet.budget.parent_calls", "{call}", "Calls a team or organization budget took from its children's slices (lease, settle, renew), by level: what per-slice leasing costs the parents");
    }

    public void Spent(string model, string userTier, decimal amount)
    {
        if (amount > 0)
        {
            _spend.Add((double)amount, new KeyValuePair<string, object?>("model", model), new KeyValuePair<string, object?>("tier", userTier));
        }
    }

    public void HoldsOpened(int count)
    {
        if (count != 0)
        {
            _openHolds.Add(count);
        }
    }

    public void StoreFailed(string operation) => _storeFailures.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void Refused(string? limit, string level) =>
        _refusals.Add(1, new KeyValuePair<string, object?>("limit", limit ?? "unknown"), new KeyValuePair<string, object?>("level", level));

    public void ChildCall(string level, string call) =>
        _childCalls.Add(1, new KeyValuePair<string, object?>("level", level), new KeyValuePair<string, object?>("call", call));
}
