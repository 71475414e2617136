using System.Text.Json;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Orleans.AiFleet.Grains.Tenancy;

/// <summary>
/// Named lists of (id, JSON value) kept in id order and read a page at a time: every organization, an organization's
/// users, a team's members. Writes are idempotent (set and remove by id), so a grain unsure whether its last write
/// landed repeats it.
/// </summary>
public interface ITenantDirectoryStore
{
    Task SetAsync(string list, string id, string value);

    Task RemoveAsync(string list, string id);

    /// <summary>Up to <paramref name="limit"/> entries with ids after <paramref name="after"/> (from the start when null), and the list's length.</summary>
    Task<(IReadOnlyList<string> Values, long Total)> PageAsync(string list, string? after, int limit);

    Task<long> CountAsync(string list);
}

/// <summary>The lists the tenancy grains keep, and how their entries are written.</summary>
internal static class DirectoryLists
{
    public const string Orgs = "orgs";

    public static string OrgUsers(string org) => $"org/{org}/users";

    public static string TeamMembers(string org, string team) => $"team/{org}/{team}/users";

    public static string Json<T>(T value) => JsonSerializer.Serialize(value);

    public static T Read<T>(string json) => JsonSerializer.Deserialize<T>(json)!;
}

/// <summary>The embedded default's directory: in this process only, like its grain state.</summary>
internal sealed class InMemoryTenantDirectoryStore : ITenantDirectoryStore
{
    private readonly Dictionary<string, SortedDictionary<string, string>> _lists = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public Task SetAsync(string list, string id, string value)
    {
        lock (_lock)
        {
            if (!_lists.TryGetValue(list, out var entries))
            {
                _lists[list] = entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
            }

            entries[id] = value;
        }

        return Task.CompletedTask;
    }

    public Task RemoveAsync(string list, string id)
    {
        lock (_lock)
        {
            if (_lists.TryGetValue(list, out var entries) && entries.Remove(id) && entries.Count == 0)
            {
                _lists.Remove(list);
            }
        }

        return Task.CompletedTask;
    }

    public Task<(IReadOnlyList<string> Values, long Total)> PageAsync(string list, string? after, int limit)
    {
        lock (_lock)
        {
            if (!_lists.TryGetValue(list, out var entries))
            {
                return Task.FromResult<(IReadOnlyList<string>, long)>(([], 0));
            }

            // SortedDictionary has no seek: skip keys up to the cursor. Lists here are one process's (the embedded
            // default); cluster mode pages in Redis with a range query.
            var page = entries.SkipWhile(e => after is not null && string.CompareOrdinal(e.Key, after) <= 0).Take(limit).Select(e => e.Value).ToArray();
            return Task.FromResult<(IReadOnlyList<string>, long)>((page, entries.Count));
        }
    }

    public Task<long> CountAsync(string list)
    {
        lock (_lock)
        {
            return Task.FromResult<long>(_lists.TryGetValue(list, out var entries) ? entries.Count : 0);
        }
    }
}

/// <summary>
/// Cluster mode's directory: per list a Redis sorted set of ids, all at score 0 so they sort by id and a page is one
/// <c>ZRANGEBYLEX</c> from the cursor, and a hash of id → value (<c>{serviceId}/dir/{list}</c> and <c>…:v</c>).
/// </summary>
internal sealed class RedisTenantDirectoryStore(IConnectionMultiplexer redis, IOptions<ClusterOptions> cluster) : ITenantDirectoryStore
{
    public async Task SetAsync(string list, string id, string value)
    {
        var db = redis.GetDatabase();
        var batch = db.CreateBatch();
        var writes = new Task[] { batch.HashSetAsync(Values(list), id, value), batch.SortedSetAddAsync(Ids(list), id, 0) };
        batch.Execute();
        await Task.WhenAll(writes);
    }

    public async Task RemoveAsync(string list, string id)
    {
        var db = redis.GetDatabase();
        var batch = db.CreateBatch();
        var writes = new Task[] { batch.SortedSetRemoveAsync(Ids(list), id), batch.HashDeleteAsync(Values(list), id) };
        batch.Execute();
        await Task.WhenAll(writes);
    }

    public async Task<(IReadOnlyList<string> Values, long Total)> PageAsync(string list, string? after, int limit)
    {
        var db = redis.GetDatabase();
        var ids = await db.SortedSetRangeByValueAsync(Ids(list), after is null ? default : after, default,
            after is null ? Exclude.None : Exclude.Start, Order.Ascending, 0, limit);
        var total = await db.SortedSetLengthAsync(Ids(list));
        if (ids.Length == 0)
        {
            return ([], total);
        }

        var values = await db.HashGetAsync(Values(list), ids);
        return (values.Where(v => v.HasValue).Select(v => v.ToString()).ToArray(), total);
    }

    public async Task<long> CountAsync(string list) => await redis.GetDatabase().SortedSetLengthAsync(Ids(list));

    private RedisKey Ids(string list) => $"{cluster.Value.ServiceId}/dir/{list}";

    private RedisKey Values(string list) => $"{cluster.Value.ServiceId}/dir/{list}:v";
}
