using Orleans.AiFleet.ClientApi.Cluster;
using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Auth;
using Orleans.AiFleet.GrainInterfaces.Tenancy;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// Turns a presented key into its owner and role: the bootstrap admin key by a constant-time comparison of hashes,
/// any other by its ApiKey grain. Only the SHA-256 of a key is ever kept. A string that is not shaped like an issued
/// key (<c>afk_</c> and 43 base64url characters) is refused without a lookup or a cache entry; a well-shaped key the
/// cluster does not know is remembered in a small bounded set; known keys are cached for
/// <see cref="AuthOptions.CacheSeconds"/>.
/// </summary>
internal sealed partial class ApiKeyValidator
{
    public const string BootstrapUser = "admin";

    /// <summary>A browser session's claim naming its key by hash, so revoking the key ends the session.</summary>
    public const string KeyHashClaim = "key_hash";

    private const int MaxCached = 100_000;

    /// <summary>Well-shaped keys the cluster does not know, remembered briefly; a flood of them evicts the lot.</summary>
    private const int MaxUnknownCached = 4_096;

    /// <summary>The shape of an issued key: <c>afk_</c> and 32 random bytes in base64url.</summary>
    public const int IssuedKeyLength = 4 + 43;

    private readonly IGrainFactory _grains;
    private readonly ClusterCalls _calls;
    private readonly TimeProvider _time;
    private readonly TimeSpan _cacheFor;
    private readonly byte[] _adminHash;
    private readonly string _adminHashId;
    /// <summary>Key hash → its principal, or null for a well-shaped key the cluster does not know (bounded by <see cref="_unknown"/>).</summary>
    private readonly ConcurrentDictionary<string, (ClaimsPrincipal? Principal, long Until)> _cache = new(StringComparer.Ordinal);
    private readonly UnknownEntries _unknown = new(MaxUnknownCached);

    public ApiKeyValidator(IGrainFactory grains, ClusterCalls calls, TimeProvider time, IOptions<AuthOptions> options, ILogger<ApiKeyValidator> logger)
    {
        _grains = grains;
        _calls = calls;
        _time = time;
        _cacheFor = TimeSpan.FromSeconds(options.Value.CacheSeconds);
        var adminKey = options.Value.AdminKey;
        if (string.IsNullOrEmpty(adminKey))
        {
            adminKey = "afk_admin_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
            LogGeneratedAdminKey(logger, adminKey, AuthOptions.SectionName);
        }

        _adminHash = SHA256.HashData(Encoding.UTF8.GetBytes(adminKey));
        _adminHashId = Convert.ToHexString(_adminHash).ToLowerInvariant();
    }

    /// <summary>
    /// The signed-in principal for a presented key, or null when the key is unknown or revoked. Built once per key and
    /// cache period, so a busy key costs a hash and one dictionary lookup per request.
    /// </summary>
    public async ValueTask<ClaimsPrincipal?> AuthenticateAsync(string key, string scheme)
    {
        if (key.Length > Apis.InputBounds.MaxBearerLength)
        {
            return null; // no key is this long: refused before hashing or caching anything
        }

        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        var id = Convert.ToHexString(hash).ToLowerInvariant();
        return await AuthenticateAsync(key, hash, id, scheme);
    }

    /// <summary>The principal for a key this client-api already holds as valid, without asking the cluster; else null.</summary>
    public ClaimsPrincipal? AuthenticateCached(string key)
    {
        if (key.Length > Apis.InputBounds.MaxBearerLength)
        {
            return null;
        }

        return _cache.TryGetValue(HashOf(key), out var cached) && cached.Until > _time.GetTimestamp() ? cached.Principal : null;
    }

    /// <summary>The hash id a key is known by (lowercase hex SHA-256), as kept in caches and session cookies.</summary>
    public static string HashOf(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();

    /// <summary>Whether the key a browser session was signed in with (by hash) is still known and not revoked.</summary>
    public async ValueTask<bool> IsStillValidAsync(string hashId)
    {
        if (_cache.TryGetValue(hashId, out var cached) && cached.Until > _time.GetTimestamp())
        {
            return cached.Principal is not null;
        }

        return await IsActiveNowAsync(hashId);
    }

    /// <summary>
    /// Whether the key (by hash) is active now, asked of the cluster rather than the cache: for long-lived connections,
    /// which re-check every few seconds, so a revocation reaches them within that period.
    /// </summary>
    public async ValueTask<bool> IsActiveNowAsync(string hashId)
    {
        if (hashId == _adminHashId)
        {
            return true; // the bootstrap key is configuration, not a grain: it cannot be revoked
        }

        var info = await _calls.RunAsync(_ => _grains.GetGrain<IApiKeyGrain>(hashId).GetAsync());
        return info is { Active: true };
    }

    private async ValueTask<ClaimsPrincipal?> AuthenticateAsync(string key, byte[] hash, string id, string scheme)
    {
        var now = _time.GetTimestamp();
        if (_cache.TryGetValue(id, out var cached) && cached.Until > now)
        {
            return cached.Principal;
        }

        ApiKeyInfo? info;
        TenantUser? tenant = null;
        if (CryptographicOperations.FixedTimeEquals(hash, _adminHash))
        {
            info = new ApiKeyInfo("bootstrap", BootstrapUser, Roles.Admin, "bootstrap admin key", default, null);
        }
        else if (!IsIssuedShape(key))
        {
            return null; // not a key this service issues: no lookup, nothing remembered
        }
        else
        {
            var found = await _calls.RunAsync(_ => _grains.GetGrain<IApiKeyGrain>(id).GetAsync());
            info = found is { Active: true } ? found : null;
            if (info?.Org is { } org)
            {
                // An organization user's key carries their current role, teams and tier; a user no longer in that
                // organization (removed, or the key's team no longer theirs) has no valid key.
                tenant = await _calls.RunAsync(_ => _grains.GetGrain<ITenantUserGrain>(info.User).GetAsync());
                if (tenant is null || tenant.Org != org || (info.Team is not null && !tenant.Teams.Contains(info.Team)))
                {
                    info = null;
                }
            }
        }

        if (_cache.Count >= MaxCached)
        {
            _cache.Clear();
        }

        var until = now + (long)(_cacheFor.TotalSeconds * _time.TimestampFrequency);
        if (info is null)
        {
            _unknown.Add(_cache, id, until);
            return null;
        }

        var principal = CallerClaims.ForKey(info, tenant, scheme);

        // The bootstrap key never changes; other keys are trusted for the cache period.
        _cache[id] = (principal, info.Id == "bootstrap" ? long.MaxValue : until);
        return principal;
    }

    /// <summary>True for <c>afk_</c> followed by 43 base64url characters, the shape of every issued key.</summary>
    public static bool IsIssuedShape(string key) =>
        key.Length == IssuedKeyLength && key.StartsWith("afk_", StringComparison.Ordinal) && key.AsSpan(4).IndexOfAnyExcept(Base64UrlChars) < 0;

    private static readonly System.Buffers.SearchValues<char> Base64UrlChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");

    [LoggerMessage(Level = LogLevel.Warning, Message = "No admin key configured: this run's admin key is {Key} (set {Section}:AdminKey, env AIFLEET__AUTH__ADMINKEY, to choose one)")]
    private static partial void LogGeneratedAdminKey(ILogger logger, string key, string section);
}
