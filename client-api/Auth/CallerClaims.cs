using System.Security.Claims;
using Orleans.AiFleet.GrainInterfaces.Auth;
using Orleans.AiFleet.GrainInterfaces.Tenancy;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// The claims every signed-in caller carries, whether from an API key, a platform token or a browser session: the user,
/// one role, and for a user of an organization its id, their teams and tier, and how their key narrows them (one team,
/// some models). Built in one place so keys and tokens give the same principal.
/// </summary>
internal static class CallerClaims
{
    public const string Org = "org";
    public const string Team = "team";
    public const string Tier = "tier";
    public const string KeyId = "key_id";
    public const string KeyTeam = "key_team";
    public const string KeyModel = "key_model";

    /// <summary>When a token's session ends (Unix seconds): its sockets and cookie stop then.</summary>
    public const string Expires = "session_expires";

    /// <summary>A principal for a key: a platform key's user and role, or an organization user's record narrowed by the key.</summary>
    public static ClaimsPrincipal ForKey(ApiKeyInfo key, TenantUser? user, string scheme)
    {
        var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, key.User), new(KeyId, key.Id) };
        if (user is null)
        {
            claims.Add(new Claim(ClaimTypes.Role, key.Role));
            if (key.Tier is not null)
            {
                claims.Add(new Claim(Tier, key.Tier));
            }
        }
        else
        {
            AddTenant(claims, user);
            if (key.Team is not null)
            {
                claims.Add(new Claim(KeyTeam, key.Team));
            }

            claims.AddRange((key.Models ?? []).Select(m => new Claim(KeyModel, m)));
        }

        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.NameIdentifier, ClaimTypes.Role));
    }

    /// <summary>A principal for a validated token's user, provisioned from it; the session ends with the token.</summary>
    public static ClaimsPrincipal ForToken(TenantUser user, DateTimeOffset expires, string scheme)
    {
        var claims = new List<Claim> { new(ClaimTypes.NameIdentifier, user.Id), new(Expires, expires.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)) };
        AddTenant(claims, user);
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme, ClaimTypes.NameIdentifier, ClaimTypes.Role));
    }

    private static void AddTenant(List<Claim> claims, TenantUser user)
    {
        claims.Add(new Claim(ClaimTypes.Role, user.Role));
        claims.Add(new Claim(Org, user.Org));
        claims.AddRange(user.Teams.Select(t => new Claim(Team, t)));
        if (user.Tier is not null)
        {
            claims.Add(new Claim(Tier, user.Tier));
        }
    }
}

/// <summary>What handlers ask of the signed-in caller.</summary>
internal static class CallerExtensions
{
    public static string UserId(this ClaimsPrincipal principal) => principal.FindFirstValue(ClaimTypes.NameIdentifier) ?? "";

    /// <summary>A platform admin: the bootstrap key or an admin key (never a token).</summary>
    public static bool IsAdmin(this ClaimsPrincipal principal) => principal.IsInRole(Roles.Admin);

    /// <summary>The caller's user tier, or null for the catalogue's default.</summary>
    public static string? UserTier(this ClaimsPrincipal principal) => principal.FindFirstValue(CallerClaims.Tier);

    /// <summary>The caller's organization, or null for a platform user.</summary>
    public static string? Org(this ClaimsPrincipal principal) => principal.FindFirstValue(CallerClaims.Org);

    public static IEnumerable<string> Teams(this ClaimsPrincipal principal) => principal.FindAll(CallerClaims.Team).Select(c => c.Value);

    /// <summary>The team the caller's requests are charged to: the key's, else their first (null: none).</summary>
    public static string? ChargedTeam(this ClaimsPrincipal principal) =>
        principal.FindFirstValue(CallerClaims.KeyTeam) ?? principal.FindFirstValue(CallerClaims.Team);

    /// <summary>Whether the caller's key lets them use <paramref name="model"/> (a key with no model list allows every model).</summary>
    public static bool MayUse(this ClaimsPrincipal principal, string model)
    {
        var scoped = false;
        foreach (var claim in principal.FindAll(CallerClaims.KeyModel))
        {
            if (claim.Value == model)
            {
                return true;
            }

            scoped = true;
        }

        return !scoped;
    }

    /// <summary>Throws forbidden naming the model when the caller's key is scoped to other models.</summary>
    public static void CheckMayUse(this ClaimsPrincipal principal, string model)
    {
        if (!principal.MayUse(model))
        {
            throw AiFleetException.ModelNotAllowed(
                $"this key may use only the models {string.Join(", ", principal.FindAll(CallerClaims.KeyModel).Select(c => c.Value))}, not '{model}'");
        }
    }

    /// <summary>A token session's end, or null for a key (keys end when revoked).</summary>
    public static DateTimeOffset? SessionExpires(this ClaimsPrincipal principal) =>
        long.TryParse(principal.FindFirstValue(CallerClaims.Expires), out var seconds) ? DateTimeOffset.FromUnixTimeSeconds(seconds) : null;
}
