using System.Security.Claims;
using Orleans.AiFleet.GrainInterfaces.Tenancy;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// Who may manage what: a platform admin everything; an org admin their own organization; a team admin the teams they
/// belong to and those teams' members (as members only: no one raises a role above their own). Anything outside a
/// caller's reach answers 404 as if it did not exist, so an admin learns nothing of other tenants.
/// </summary>
internal static class TenantAccess
{
    public static bool ManagesOrg(this ClaimsPrincipal caller, string org) =>
        caller.IsAdmin() || (caller.IsInRole(TenantRoles.OrgAdmin) && caller.Org() == org);

    public static bool ManagesTeam(this ClaimsPrincipal caller, string org, string team) =>
        caller.ManagesOrg(org) || (caller.IsInRole(TenantRoles.TeamAdmin) && caller.Org() == org && caller.Teams().Contains(team));

    /// <summary>Whether the caller may see and change <paramref name="user"/> (null: a user not yet in any organization).</summary>
    public static bool ManagesUser(this ClaimsPrincipal caller, string org, TenantUser? user) =>
        caller.ManagesOrg(org)
        || (caller.IsInRole(TenantRoles.TeamAdmin) && caller.Org() == org
            && (user is null || (user.Org == org && user.Role == TenantRoles.Member && user.Teams.Count > 0 && user.Teams.All(t => caller.Teams().Contains(t)))));

    /// <summary>Whether the caller may give a user <paramref name="role"/> in <paramref name="teams"/> (a team admin: members of their teams only).</summary>
    public static bool MayAssign(this ClaimsPrincipal caller, string org, string role, IReadOnlyList<string> teams) =>
        caller.ManagesOrg(org) || (role == TenantRoles.Member && teams.Count > 0 && teams.All(t => caller.ManagesTeam(org, t)));

    public static AiFleetException NoOrg(string org) => AiFleetException.NotFound($"no organization has id '{org}'");

    public static AiFleetException NoTeam(string org, string team) => AiFleetException.NotFound($"no team '{team}' in organization '{org}'");

    public static AiFleetException NoUser(string org, string user) => AiFleetException.NotFound($"no user '{user}' in organization '{org}'");
}
