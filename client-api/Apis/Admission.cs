using System.Security.Claims;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>Requests that cost nothing (lookups, feedback) are still requests: each takes one of the caller's requests per minute.</summary>
internal static class Admission
{
    /// <summary>Takes one of the caller's requests per minute, or throws the budget's refusal (429 naming the limit).</summary>
    public static async Task AdmitAsync(ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls)
    {
        var admitted = await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(caller.UserId()).AdmitFreeAsync(caller.ChargedTeam()));
        if (!admitted.Granted)
        {
            throw AiFleetException.OverBudget(admitted.RefusedBy!, admitted.Message!, admitted.RetryAfter);
        }
    }
}
