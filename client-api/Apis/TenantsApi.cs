using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Tenancy;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// Organizations and their teams (<c>/v1/admin/orgs/...</c>): a platform admin creates organizations; an org admin
/// manages their organization's teams; a team admin reads and renames their own teams and sets their members' default
/// budget. What a caller may not manage answers 404 (see <see cref="TenantAccess"/>). Lists are pages in id order:
/// <c>?after=&lt;last id&gt;&amp;limit=</c> (1 to 500, default 50), with <c>next</c> naming the cursor of the next page.
/// </summary>
internal static class TenantsApi
{
    /// <summary>Platform, org and team admins (each route narrows further).</summary>
    public const string TenantAdminPolicy = "tenant-admin";

    public static IEndpointRouteBuilder MapTenantsApi(this IEndpointRouteBuilder app)
    {
        var orgs = app.MapGroup("/v1/admin/orgs").WithTags("Tenants").RequireAuthorization(TenantAdminPolicy);
        orgs.MapPost("", CreateOrgAsync);
        orgs.MapGet("", ListOrgsAsync);
        orgs.MapGet("/{org}", GetOrgAsync);
        orgs.MapPost("/{org}/teams", CreateTeamAsync);
        orgs.MapGet("/{org}/teams", ListTeamsAsync);
        orgs.MapGet("/{org}/teams/{team}", GetTeamAsync);
        orgs.MapPatch("/{org}/teams/{team}", UpdateTeamAsync);
        orgs.MapDelete("/{org}/teams/{team}", DeleteTeamAsync);
        orgs.MapGet("/{org}/teams/{team}/members", ListMembersAsync);
        orgs.MapTenantUsersApi();
        orgs.MapTenantBudgetsApi();
        return app;
    }

    public sealed record CreateOrgBody(string? Id, string? Name);

    public sealed record CreateTeamBody(string? Id, string? Name, BudgetLimits? MemberDefault);

    public sealed record UpdateTeamBody(string? Name, BudgetLimits? MemberDefault);

    private static async Task<Created<OrgInfo>> CreateOrgAsync(CreateOrgBody body, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        if (!caller.IsAdmin())
        {
            throw AiFleetException.Forbidden("only a platform admin creates organizations");
        }

        var id = CheckId(body.Id, "id");
        var org = await calls.RunOnceAsync(() => grains.GetGrain<IOrgGrain>(id).CreateAsync(body.Name ?? ""));
        return TypedResults.Created($"/v1/admin/orgs/{org.Id}", org);
    }

    private static async Task<Ok<Page<OrgInfo>>> ListOrgsAsync(ClaimsPrincipal caller, string? after, int? limit, IGrainFactory grains, ClusterCalls calls)
    {
        if (caller.IsAdmin())
        {
            return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<ITenantDirectoryGrain>(0).OrgsAsync(after, Limit(limit))));
        }

        // An org admin sees their own organization; a team admin none (they manage teams, not the organization).
        var own = caller.Org() is { } org && caller.ManagesOrg(org) ? await calls.RunAsync(_ => grains.GetGrain<IOrgGrain>(org).GetAsync()) : null;
        return TypedResults.Ok(new Page<OrgInfo>(own is null || (after is not null && string.CompareOrdinal(own.Id, after) <= 0) ? [] : [own], null, own is null ? 0 : 1));
    }

    private static async Task<Ok<OrgInfo>> GetOrgAsync(string org, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls) =>
        TypedResults.Ok(await OrgAsync(org, caller, grains, calls));

    private static async Task<Created<TeamInfo>> CreateTeamAsync(string org, CreateTeamBody body, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await OrgAsync(org, caller, grains, calls);
        var id = CheckId(body.Id, "id");
        var team = await calls.RunOnceAsync(() => grains.GetGrain<ITeamGrain>(TenantNames.TeamKey(org, id)).CreateAsync(body.Name ?? "", body.MemberDefault));
        return TypedResults.Created($"/v1/admin/orgs/{org}/teams/{team.Id}", team);
    }

    private static async Task<Ok<Page<TeamInfo>>> ListTeamsAsync(
        string org, ClaimsPrincipal caller, string? after, int? limit, IGrainFactory grains, ClusterCalls calls)
    {
        var size = Limit(limit);
        if (!caller.ManagesOrg(org) && !caller.Teams().Any(t => caller.ManagesTeam(org, t)))
        {
            throw TenantAccess.NoOrg(org);
        }

        var ids = caller.ManagesOrg(org)
            ? await calls.RunAsync(_ => grains.GetGrain<IOrgGrain>(org).TeamsAsync())
            : caller.Teams().Order(StringComparer.Ordinal).ToArray();
        var page = ids.Where(t => after is null || string.CompareOrdinal(t, after) > 0).Take(size + 1).ToArray();
        var teams = await Task.WhenAll(page.Take(size).Select(t => calls.RunAsync(_ => grains.GetGrain<ITeamGrain>(TenantNames.TeamKey(org, t)).GetAsync())));
        return TypedResults.Ok(new Page<TeamInfo>(teams.OfType<TeamInfo>().ToArray(), page.Length > size ? page[size - 1] : null, ids.Count));
    }

    private static async Task<Ok<TeamInfo>> GetTeamAsync(string org, string team, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls) =>
        TypedResults.Ok(await TeamAsync(org, team, caller, grains, calls));

    private static async Task<Ok<TeamInfo>> UpdateTeamAsync(
        string org, string team, UpdateTeamBody body, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await TeamAsync(org, team, caller, grains, calls);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<ITeamGrain>(TenantNames.TeamKey(org, team)).UpdateAsync(body.Name, body.MemberDefault)));
    }

    private static async Task<NoContent> DeleteTeamAsync(string org, string team, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await TeamAsync(org, team, caller, grains, calls);
        if (!caller.ManagesOrg(org))
        {
            throw AiFleetException.Forbidden("only an org admin deletes a team");
        }

        await calls.RunAsync(async _ => { await grains.GetGrain<ITeamGrain>(TenantNames.TeamKey(org, team)).DeleteAsync(); return true; });
        return TypedResults.NoContent();
    }

    private static async Task<Ok<Page<TenantUser>>> ListMembersAsync(
        string org, string team, ClaimsPrincipal caller, string? after, int? limit, IGrainFactory grains, ClusterCalls calls)
    {
        await TeamAsync(org, team, caller, grains, calls);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<ITenantDirectoryGrain>(0).UsersAsync(org, team, after, Limit(limit))));
    }

    /// <summary>The organization if the caller manages it; else 404, whether or not it exists.</summary>
    internal static async Task<OrgInfo> OrgAsync(string org, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        if (!TenantNames.IsId(org) || !caller.ManagesOrg(org))
        {
            throw TenantAccess.NoOrg(org);
        }

        return await calls.RunAsync(_ => grains.GetGrain<IOrgGrain>(org).GetAsync()) ?? throw TenantAccess.NoOrg(org);
    }

    /// <summary>The team if the caller manages it; else 404.</summary>
    internal static async Task<TeamInfo> TeamAsync(string org, string team, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        if (!TenantNames.IsId(org) || !TenantNames.IsId(team) || !caller.ManagesTeam(org, team))
        {
            throw caller.ManagesOrg(org) || caller.Org() == org ? TenantAccess.NoTeam(org, team) : TenantAccess.NoOrg(org);
        }

        return await calls.RunAsync(_ => grains.GetGrain<ITeamGrain>(TenantNames.TeamKey(org, team)).GetAsync()) ?? throw TenantAccess.NoTeam(org, team);
    }

    internal static string CheckId(string? id, string field) =>
        TenantNames.IsId(id) ? id! : throw AiFleetException.Invalid($"'{field}' must be {TenantNames.IdRule}", field);

    internal static int Limit(int? limit) => limit switch
    {
        null => Page<object>.DefaultLimit,
        < 1 or > Page<object>.MaxLimit => throw AiFleetException.Invalid($"'limit' must be 1 to {Page<object>.MaxLimit}", "limit"),
        _ => limit.Value,
    };
}
