using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// Where settled requests are written, one entry per request, by user and UTC day. Appends are idempotent by the
/// entry's sequence number, so a budget grain that is unsure whether its last append landed can simply repeat it.
/// </summary>
public interface ILedgerStore
{
    Task AppendAsync(string user, IReadOnlyList<LedgerEntry> entries);

    Task<IReadOnlyList<LedgerEntry>> ReadAsync(string user, DateOnly day);
}

/// <summary>The embedded default's ledger: in this process only, like its grain state.</summary>
internal sealed class InMemoryLedgerStore : ILedgerStore
{
    private readonly ConcurrentDictionary<(string User, DateOnly Day), ConcurrentDictionary<long, LedgerEntry>> _days = new();

    public Task AppendAsync(string user, IReadOnlyList<LedgerEntry> entries)
    {
        foreach (var entry in entries)
        {
            _days.GetOrAdd((user, DateOnly.FromDateTime(entry.At.UtcDateTime)), _ => new()).TryAdd(entry.Sequence, entry);
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<LedgerEntry>> ReadAsync(string user, DateOnly day) =>
        Task.FromResult<IReadOnlyList<LedgerEntry>>(_days.TryGetValue((user, day), out var entries)
            ? entries.Values.OrderBy(e => e.Sequence).ToArray()
            : []);
}

/// <summary>
/// Cluster mode's ledger: a Redis hash per user and day (<c>{serviceId}/ledger/{user}/{yyyy-MM-dd}</c>), one field per
/// entry keyed by its sequence number (HSETNX keeps an append idempotent), the entry as JSON. A day's hash expires
/// after the usage retention (<see cref="BudgetOptions.UsageRetentionDays"/>), as the budget's own usage rows do.
/// </summary>
internal sealed class RedisLedgerStore(IConnectionMultiplexer redis, IOptions<ClusterOptions> cluster, IOptions<BudgetOptions> budgets) : ILedgerStore
{
    public async Task AppendAsync(string user, IReadOnlyList<LedgerEntry> entries)
    {
        var db = redis.GetDatabase();
        var batch = db.CreateBatch();
        var keep = TimeSpan.FromDays(budgets.Value.UsageRetentionDays + 1);
        var writes = entries
            .Select(e => batch.HashSetAsync(Key(user, DateOnly.FromDateTime(e.At.UtcDateTime)), e.Sequence, JsonSerializer.Serialize(e), When.NotExists))
            .Concat(entries.Select(e => Key(user, DateOnly.FromDateTime(e.At.UtcDateTime))).Distinct().Select(k => (Task)batch.KeyExpireAsync(k, keep)))
            .ToArray();
        batch.Execute();
        await Task.WhenAll(writes);
    }

    public async Task<IReadOnlyList<LedgerEntry>> ReadAsync(string user, DateOnly day)
    {
        var fields = await redis.GetDatabase().HashGetAllAsync(Key(user, day));
        return fields.Select(f => JsonSerializer.Deserialize<LedgerEntry>(f.Value.ToString())!).OrderBy(e => e.Sequence).ToArray();
    }

    private RedisKey Key(string user, DateOnly day) =>
        $"{cluster.Value.ServiceId}/ledger/{user}/{day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";
}
