using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using StackExchange.Redis;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// Answers to deterministic requests (embeddings; chat at temperature 0), by a SHA-256 of everything that decides
/// the answer (model, version, input, settings) and whose it is (<see cref="ResponseCacheOptions.Scope"/>). A hit is served without a replica and without charge. Counted on
/// the <c>aifleet.cache.requests</c> instrument by kind and result, so /metrics gives the hit rate.
/// </summary>
public abstract class ResponseCache
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    private readonly Counter<long> _requests;
    private readonly CacheScope _scope;

    protected ResponseCache(IMeterFactory meters, IOptions<ResponseCacheOptions> options)
    {
        _requests = meters.Create(InferenceMetrics.MeterName).CreateCounter<long>(
            "aifleet.cache.requests", "{request}", "Response cache lookups by kind (embedding, chat) and result (hit, miss)");
        _scope = options.Value.Scope;
    }

    /// <summary>The part of every key that says whose answers it may share: the user's, or everybody's.</summary>
    public string ScopeOf(string user) => _scope == CacheScope.User ? "user:" + user : "tenant";

    public static string Key(params string[] parts) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', parts)))).ToLowerInvariant();

    public async ValueTask<byte[]?> GetAsync(string kind, string key)
    {
        byte[]? value;
        try
        {
            value = await ReadAsync(key);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A cache that cannot answer is a miss, never a failed request: whatever the client throws (a timeout, a
            // lost connection, or, seen while Redis was stalled under load, its pipe reader's InvalidOperationException).
            value = null;
        }

        _requests.Add(1, new("kind", kind), new("result", value is null ? "miss" : "hit"));
        return value;
    }

    public async ValueTask SetAsync(string key, byte[] value)
    {
        try
        {
            await WriteAsync(key, value);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not cached this time.
        }
    }

    protected abstract ValueTask<byte[]?> ReadAsync(string key);

    protected abstract ValueTask WriteAsync(string key, byte[] value);
}

/// <summary>The embedded default's cache: this process's memory, at most 64 MB of answers.</summary>
internal sealed class InMemoryResponseCache(IMeterFactory meters, IOptions<ResponseCacheOptions> options) : ResponseCache(meters, options), IDisposable
{
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = 64L << 20 });

    protected override ValueTask<byte[]?> ReadAsync(string key) => ValueTask.FromResult(_cache.Get<byte[]>(key));

    protected override ValueTask WriteAsync(string key, byte[] value)
    {
        _cache.Set(key, value, new MemoryCacheEntryOptions { Size = value.Length + 64, AbsoluteExpirationRelativeToNow = Lifetime });
        return ValueTask.CompletedTask;
    }

    public void Dispose() => _cache.Dispose();
}

/// <summary>Cluster mode's cache: shared by every silo in Redis (<c>{serviceId}/cache/{hash}</c>), expiring after an hour.</summary>
internal sealed class RedisResponseCache(IConnectionMultiplexer redis, IOptions<ClusterOptions> cluster, IMeterFactory meters, IOptions<ResponseCacheOptions> options)
    : ResponseCache(meters, options)
{
    /// <summary>A cache is worth only a short wait: a slow or hung Redis makes every lookup a quick miss.</summary>
    public static readonly TimeSpan ReadTimeout = TimeSpan.FromMilliseconds(200);

    protected override async ValueTask<byte[]?> ReadAsync(string key) =>
        (byte[]?)await redis.GetDatabase().StringGetAsync(RedisKey(key)).WaitAsync(ReadTimeout);

    protected override ValueTask WriteAsync(string key, byte[] value)
    {
        // Not awaited: an answer is never held up by storing it.
        redis.GetDatabase().StringSet(RedisKey(key), value, Lifetime, flags: CommandFlags.FireAndForget);
        return ValueTask.CompletedTask;
    }

    private RedisKey RedisKey(string key) => $"{cluster.Value.ServiceId}/cache/{key}";
}
