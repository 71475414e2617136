using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Tenancy;

namespace Orleans.AiFleet.Grains.Budgets;

/// <summary>
/// Which budget a budget's next hold is drawn on: a team's organization; a user's charged team (the one named, which
/// must be one of theirs, else their first), or their organization when they are in no team; none for an organization
/// or a user outside any organization. A user budget keeps its organization and teams in its state, told by the tenant
/// user when saved (or asked of it once, for a budget made before).
/// </summary>
internal static class BudgetParents
{
    public static async ValueTask<string?> OfAsync(string key, UserBudgetState state, string? team, IGrainFactory grains)
    {
        switch (BudgetKeys.Level(key))
        {
            case BudgetKeys.OrgLevel:
                return null;
            case BudgetKeys.TeamLevel:
                return BudgetKeys.TeamParent(key);
        }

        if (!state.ParentsKnown)
        {
            var user = await grains.GetGrain<ITenantUserGrain>(key).GetAsync();
            if (!state.ParentsKnown)
            {
                (state.Org, state.Teams, state.ParentsKnown) = (user?.Org, user?.Teams.ToList() ?? [], true); // kept with the next write
            }
        }

        if (team is not null && !state.Teams.Contains(team))
        {
            throw AiFleetException.Forbidden($"user '{key}' is not a member of team '{team}': nothing can be charged to it");
        }

        return state.Org is not { } org ? null
            : (team ?? state.Teams.FirstOrDefault()) is { } charged ? BudgetKeys.Team(org, charged)
            : BudgetKeys.Org(org);
    }

    /// <summary>Records a user's organization and teams; the parents their holds may be drawn on from now.</summary>
    public static IReadOnlySet<string> Set(UserBudgetState state, string? org, IReadOnlyList<string> teams)
    {
        (state.Org, state.Teams, state.ParentsKnown) = (org, teams.ToList(), true);
        return org is null ? new HashSet<string>()
            : teams.Count == 0 ? new HashSet<string>(StringComparer.Ordinal) { BudgetKeys.Org(org) }
            : teams.Select(t => BudgetKeys.Team(org, t)).ToHashSet(StringComparer.Ordinal);
    }
}
