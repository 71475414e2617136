using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// The budgets of organizations and teams (<c>/v1/admin/orgs/{org}/budget</c>, <c>.../teams/{team}/budget</c>): the same
/// caps a user's budget has, binding every request of everyone below them. The platform admin sets an organization's
/// (its contract); an org admin reads it and sets their teams'; a team admin reads their own team's. A child's cap may
/// be above its parent's: the parent still binds.
/// </summary>
internal static class TenantBudgetsApi
{
    public static RouteGroupBuilder MapTenantBudgetsApi(this RouteGroupBuilder orgs)
    {
        orgs.MapGet("/{org}/budget", GetOrgBudgetAsync);
        orgs.MapPut("/{org}/budget", SetOrgBudgetAsync);
        orgs.MapGet("/{org}/teams/{team}/budget", GetTeamBudgetAsync);
        orgs.MapPut("/{org}/teams/{team}/budget", SetTeamBudgetAsync);
        return orgs;
    }

    private static async Task<Ok<BudgetStatus>> GetOrgBudgetAsync(string org, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await TenantsApi.OrgAsync(org, caller, grains, calls);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Org(org)).GetStatusAsync()));
    }

    private static async Task<Ok<BudgetStatus>> SetOrgBudgetAsync(
        string org, BudgetLimits limits, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await TenantsApi.OrgAsync(org, caller, grains, calls);
        if (!caller.IsAdmin())
        {
            throw AiFleetException.Forbidden("only a platform admin sets an organization's budget");
        }

        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Org(org)).SetLimitsAsync(limits)));
    }

    private static async Task<Ok<BudgetStatus>> GetTeamBudgetAsync(string org, string team, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await TenantsApi.TeamAsync(org, team, caller, grains, calls);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Team(org, team)).GetStatusAsync()));
    }

    private static async Task<Ok<BudgetStatus>> SetTeamBudgetAsync(
        string org, string team, BudgetLimits limits, ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        await TenantsApi.TeamAsync(org, team, caller, grains, calls);
        if (!caller.ManagesOrg(org))
        {
            throw AiFleetException.Forbidden("only an org admin sets a team's budget");
        }

        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(BudgetKeys.Team(org, team)).SetLimitsAsync(limits)));
    }
}
