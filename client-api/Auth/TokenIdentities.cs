using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.GrainInterfaces.Tenancy;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// Turns a validated token's claims (named by <see cref="TokenClaimNames"/>) into a user of an organization: the user
/// and organization claims are required, teams and tier optional, the role a tenant role (never a platform admin). The
/// first token of a user provisions them (with their team's default budget); the same claims again within
/// <see cref="AuthOptions.CacheSeconds"/> cost no grain call. A token naming an organization or team we do not know
/// is refused: tokens cannot create tenants.
/// </summary>
internal sealed class TokenIdentities(IGrainFactory grains, ClusterCalls calls, TimeProvider time, IOptions<TokenOptions> tokens, IOptions<AuthOptions> auth)
{
    private const int MaxCached = 100_000;

    private readonly ConcurrentDictionary<TokenIdentityKey, (TenantUser User, long Until)> _provisioned = new();

    /// <summary>The user the claims name, or null and the reason they are refused.</summary>
    public async ValueTask<(TenantUser? User, string? Refusal)> ResolveAsync(ClaimsPrincipal claims)
    {
        var names = tokens.Value.Claims;
        var user = claims.FindFirstValue(names.User);
        if (string.IsNullOrEmpty(user))
        {
            return (null, $"the token lacks the '{names.User}' claim (the user)");
        }

        if (!TenantNames.IsUserId(user))
        {
            return (null, $"the token's '{names.User}' claim is not a user id (1 to {TenantNames.MaxUserIdLength} printable characters, no '/')");
        }

        var org = claims.FindFirstValue(names.Org);
        if (string.IsNullOrEmpty(org))
        {
            return (null, $"the token lacks the '{names.Org}' claim (the organization)");
        }

        if (!TenantNames.IsId(org))
        {
            return (null, $"the token's '{names.Org}' claim is not an organization id ({TenantNames.IdRule})");
        }

        var role = claims.FindFirstValue(names.Role) ?? TenantRoles.Member;
        if (!TenantRoles.IsValid(role))
        {
            return (null, $"the token's '{names.Role}' claim must be '{TenantRoles.Member}', '{TenantRoles.TeamAdmin}' or '{TenantRoles.OrgAdmin}' (platform admins use an API key)");
        }

        var teams = claims.FindAll(names.Teams).Select(c => c.Value).Distinct(StringComparer.Ordinal).ToArray();
        if (teams.Length > TenantNames.MaxTeamsPerUser || teams.Any(t => !TenantNames.IsId(t)))
        {
            return (null, $"the token's '{names.Teams}' claim must be at most {TenantNames.MaxTeamsPerUser} team ids, each {TenantNames.IdRule}");
        }

        var tier = claims.FindFirstValue(names.Tier);
        var name = claims.FindFirstValue(names.Name);
        if (tier is { Length: > 128 } || (name is not null && !TenantNames.IsDisplayName(name)))
        {
            return (null, $"the token's '{names.Tier}' or '{names.Name}' claim is too long");
        }

        var identity = new TokenIdentity(user, org, teams, role, tier, name);
        var key = new TokenIdentityKey(user, org, string.Join('\n', teams), role, tier, name);
        var now = time.GetTimestamp();
        if (_provisioned.TryGetValue(key, out var cached) && cached.Until > now)
        {
            return (cached.User, null);
        }

        try
        {
            var provisioned = await calls.RunAsync(_ => grains.GetGrain<ITenantUserGrain>(user).ProvisionAsync(identity));
            if (_provisioned.Count >= MaxCached)
            {
                _provisioned.Clear();
            }

            _provisioned[key] = (provisioned, now + (long)(auth.Value.CacheSeconds * time.TimestampFrequency));
            return (provisioned, null);
        }
        catch (AiFleetException e) when (e.Kind is FailureKind.NotFound or FailureKind.Conflict or FailureKind.InvalidArgument)
        {
            return (null, $"the token's user cannot be signed in: {e.Message}");
        }
    }

    private readonly record struct TokenIdentityKey(string User, string Org, string Teams, string Role, string? Tier, string? Name);
}
