
namespace Orleans.AiFleet.Grains.Routing;

/// <summary>Response cache settings, bound from <c>AiFleet:Cache</c>.</summary>
public sealed class ResponseCacheOptions
{
    public const string SectionName = "AiFleet:Cache";

    /// <summary>
    /// Whose answers a hit may come from. <see cref="CacheScope.User"/> (the default): only the same user's, so a hit
    /// says nothing about what anybody else asked. <see cref="CacheScope.Tenant"/>: every user's (one deployment per tenant).
    /// </summary>
    public CacheScope Scope { get; set; } = CacheScope.User;
}

public enum CacheScope
{
    User,
    Tenant,
}
