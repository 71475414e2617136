using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.GrainInterfaces.Auth;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Tenancy;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// An organization's users (<c>/v1/admin/orgs/{org}/users/...</c>): add or change one (role, teams, tier), list them,
/// remove one, issue them keys scoped to a team and models, and set their budget. Org admins manage everyone in their
/// organization; team admins the members of their own teams; others' users answer 404.
/// </summary>
internal static class TenantUsersApi
{
    public static RouteGroupBuilder MapTenantUsersApi(this RouteGroupBuilder orgs)
    {
        orgs.MapGet("/{org}/users", ListUsersAsync);
        orgs.MapPut("/{org}/users/{user}", SaveUserAsync);
        orgs.MapGet("/{org}/users/{user}", GetUserAsync);
        orgs.MapDelete("/{org}/users/{user}", RemoveUserAsync);
        orgs.MapPost("/{org}/users/{user}/keys", CreateKeyAsync);
        orgs.MapPut("/{org}/users/{user}/budget", SetBudgetAsync);
        orgs.MapGet("/{org}/users/{user}/budget", GetBudgetAsync);
        return orgs;
    }

    public sealed record UserBody(string? Name, string? Role, IReadOnlyList<string>? Teams, string? Tier);

    public sealed record UserKeyBody(string? Name, string? Team, IReadOnlyList<string>? Models);

    public sealed record UserKeyView(string Id, string User, string Org, string? Team, IReadOnlyList<string>? Models, string Name, DateTimeOffset CreatedAt, string Key);

    private static async Task<Ok<Page<TenantUser>>> ListUsersAsync(
        string org, ClaimsPrincipal caller, string? after, int? limit, IGrainFactory grains, ClusterCalls calls)
    {
        await TenantsApi.OrgAsync(org, caller, grains, calls);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<ITenantDirectoryGrain>(0).UsersAsync(org, null, after, TenantsApi.Limit(limit))));
    }

    private static async Task<Ok<TenantUser>> SaveUserAsync(
        string org, string user, UserBody body, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        var existing = await ReachableAsync(org, user, caller, grains, calls, mayBeNew: true);
        var role = body.Role ?? existing?.Role ?? TenantRoles.Member;
        var teams = body.Teams ?? existing?.Teams ?? [];
        if (!caller.MayAssign(org, role, teams))
        {
            throw AiFleetException.Forbidden("a team admin may only add members to, or move them between, their own teams");
        }

        var spec = new TenantUserSpec(org, body.Name, role, teams, body.Tier ?? existing?.Tier);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<ITenantUserGrain>(user).SaveAsync(spec)));
    }

    private static async Task<Ok<TenantUser>> GetUserAsync(string org, string user, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls) =>
        TypedResults.Ok((await ReachableAsync(org, user, caller, grains, calls, mayBeNew: false))!);

    private static async Task<NoContent> RemoveUserAsync(string org, string user, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await ReachableAsync(org, user, caller, grains, calls, mayBeNew: false);
        await calls.RunAsync(_ => grains.GetGrain<ITenantUserGrain>(user).RemoveAsync());
        return TypedResults.NoContent();
    }

    private static async Task<Created<UserKeyView>> CreateKeyAsync(
        string org, string user, UserKeyBody body, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await ReachableAsync(org, user, caller, grains, calls, mayBeNew: false);
        var spec = new TenantKeySpec(user, org, body.Name ?? "", body.Team, body.Models);
        // Not re-sent if the gateway drops mid-call: a second send would issue a second key.
        var created = await calls.RunOnceAsync(() => grains.GetGrain<IApiKeyDirectoryGrain>(IApiKeyDirectoryGrain.DefaultKey).CreateForAsync(spec));
        var i = created.Info;
        return TypedResults.Created($"/v1/admin/keys/{i.Id}", new UserKeyView(i.Id, i.User, org, i.Team, i.Models, i.Name, i.CreatedAt, created.Key));
    }

    private static async Task<Ok<BudgetStatus>> SetBudgetAsync(
        string org, string user, BudgetLimits limits, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await ReachableAsync(org, user, caller, grains, calls, mayBeNew: false);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(user).SetLimitsAsync(limits)));
    }

    private static async Task<Ok<BudgetStatus>> GetBudgetAsync(string org, string user, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await ReachableAsync(org, user, caller, grains, calls, mayBeNew: false);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(user).GetStatusAsync()));
    }

    /// <summary>
    /// The user if the caller may manage them in <paramref name="org"/> (null for a new one when <paramref name="mayBeNew"/>);
    /// 404 naming the organization or the user otherwise, whether or not they exist.
    /// </summary>
    private static async Task<TenantUser?> ReachableAsync(
        string org, string user, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls, bool mayBeNew)
    {
        if (!TenantNames.IsId(org) || !(caller.ManagesOrg(org) || (caller.IsInRole(TenantRoles.TeamAdmin) && caller.Org() == org)))
        {
            throw TenantAccess.NoOrg(org);
        }

        if (!TenantNames.IsUserId(user))
        {
            throw AiFleetException.Invalid(TenantNames.UserIdRule, "user");
        }

        var found = await calls.RunAsync(_ => grains.GetGrain<ITenantUserGrain>(user).GetAsync());
        if (found is not null && found.Org != org)
        {
            // In another organization: as unknown here as a user who does not exist, except to a platform admin, who
            // is told why the save cannot succeed (anyone else could probe other organizations' user ids).
            throw mayBeNew && caller.IsAdmin()
                ? AiFleetException.Conflict($"user '{user}' belongs to organization '{found.Org}'")
                : TenantAccess.NoUser(org, user);
        }

        if ((found is null && !mayBeNew) || !caller.ManagesUser(org, found))
        {
            throw TenantAccess.NoUser(org, user);
        }

        return found;
    }
}
