using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Auth;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// Turns a presented key into its owner and role: the bootstrap admin key by a constant-time comparison of hashes,
/// any other by its ApiKey grain, whose answer (found or not) is cached for <see cref="AuthOptions.CacheSeconds"/>.
/// </summary>
internal sealed partial class ApiKeyValidator
{
    public const string BootstrapUser = "admin";

    private const int MaxCached = 100_000;

    private readonly IGrainFactory _grains;
    private readonly ClusterCalls _calls;
    private readonly TimeProvider _time;
    private readonly TimeSpan _cacheFor;
    private readonly byte[] _adminHash;
    private readonly ConcurrentDictionary<string, (ApiKeyInfo? Info, long Until)> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (ClaimsPrincipal? Principal, long Until)> _principals = new(StringComparer.Ordinal);

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
    }

    /// <summary>
    /// The signed-in principal for a presented key, or null when the key is unknown or revoked. Built once per key and
    /// cache period, so a busy key costs one dictionary lookup per request.
    /// </summary>
    public async ValueTask<ClaimsPrincipal?> AuthenticateAsync(string key, string scheme)
    {
        var now = _time.GetTimestamp();
        if (_principals.TryGetValue(key, out var cached) && cached.Until > now)
        {
            return cached.Principal;
        }

        var info = await ValidateAsync(key);
        var principal = info is null ? null : new ClaimsPrincipal(new ClaimsIdentity(
            info.Tier is null
                ? [new Claim(ClaimTypes.NameIdentifier, info.User), new Claim(ClaimTypes.Role, info.Role), new Claim("key_id", info.Id)]
                : [new Claim(ClaimTypes.NameIdentifier, info.User), new Claim(ClaimTypes.Role, info.Role), new Claim("key_id", info.Id), new Claim(ApiKeyAuthenticationHandler.TierClaim, info.Tier)],
            scheme));
        if (_principals.Count >= MaxCached)
        {
            _principals.Clear();
        }

        // The bootstrap key never changes; other keys are trusted for the cache period like their lookups.
        _principals[key] = (principal, info?.Id == "bootstrap" ? long.MaxValue : now + (long)(_cacheFor.TotalSeconds * _time.TimestampFrequency));
        return principal;
    }

    /// <summary>The key's owner and role, or null when it is unknown or revoked.</summary>
    public async ValueTask<ApiKeyInfo?> ValidateAsync(string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        if (CryptographicOperations.FixedTimeEquals(hash, _adminHash))
        {
            return new ApiKeyInfo("bootstrap", BootstrapUser, Roles.Admin, "bootstrap admin key", default, null);
        }

        var id = Convert.ToHexString(hash).ToLowerInvariant();
        var now = _time.GetTimestamp();
        if (_cache.TryGetValue(id, out var cached) && cached.Until > now)
        {
            return cached.Info;
        }

        var info = await _calls.RunAsync(_ => _grains.GetGrain<IApiKeyGrain>(id).GetAsync());
        var valid = info is { Active: true } ? info : null;
        if (_cache.Count >= MaxCached)
        {
            _cache.Clear(); // a flood of made-up keys must not grow the cache without bound
        }

        _cache[id] = (valid, now + (long)(_cacheFor.TotalSeconds * _time.TimestampFrequency));
        return valid;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "No admin key configured: this run's admin key is {Key} (set {Section}:AdminKey, env AIFLEET__AUTH__ADMINKEY, to choose one)")]
    private static partial void LogGeneratedAdminKey(ILogger logger, string key, string section);
}
