using System.Security.Cryptography;
using System.Text;

namespace Orleans.AiFleet.GrainInterfaces.Auth;

/// <summary>The two roles: an admin manages keys and budgets and sees every user; a user sees their own.</summary>
public static class Roles
{
    public const string Admin = "admin";
    public const string User = "user";

    public static bool IsValid(string role) => role is Admin or User;
}

/// <summary>
/// An API key as stored: never the key itself, only who it belongs to, and the user tier (which model tiers its
/// requests may use; null for the catalogue's default tier).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ApiKeyInfo")]
public sealed record ApiKeyInfo(
    [property: Id(0)] string Id,
    [property: Id(1)] string User,
    [property: Id(2)] string Role,
    [property: Id(3)] string Name,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] DateTimeOffset? RevokedAt,
    [property: Id(6)] string? Tier = null,
    [property: Id(7)] string? Org = null,
    [property: Id(8)] string? Team = null,
    [property: Id(9)] IReadOnlyList<string>? Models = null)
{
    public bool Active => RevokedAt is null;
}

/// <summary>
/// A key for a user of an organization. Its powers are the user's (role, teams, tier, read at each sign-in), narrowed:
/// to one of their teams (<see cref="Team"/>: the team its requests are charged to) and to a list of models (null: all
/// the user may use).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.TenantKeySpec")]
public sealed record TenantKeySpec(
    [property: Id(0)] string User,
    [property: Id(1)] string Org,
    [property: Id(2)] string Name,
    [property: Id(3)] string? Team = null,
    [property: Id(4)] IReadOnlyList<string>? Models = null)
{
    /// <summary>Models one key may be scoped to.</summary>
    public const int MaxModels = 64;
}

/// <summary>A key just created: the only time its secret is returned.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.CreatedApiKey")]
public sealed record CreatedApiKey(
    [property: Id(0)] ApiKeyInfo Info,
    [property: Id(1)] string Key);

/// <summary>Keys are looked up and stored by their SHA-256 (hex): a leaked store leaks no usable key.</summary>
public static class ApiKeyHash
{
    public static string Of(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant();
}
