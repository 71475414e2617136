using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.GrainInterfaces.Tenancy;

/// <summary>One per team, keyed by <see cref="TenantNames.TeamKey"/> (<c>org/team</c>): its name and its members' default budget.</summary>
[Alias("aifleet.ITeamGrain")]
public interface ITeamGrain : IGrainWithStringKey
{
    /// <summary>Creates the team in its organization: not found when the organization does not exist, a conflict when the team does.</summary>
    [Alias("Create")]
    Task<TeamInfo> CreateAsync(string name, BudgetLimits? memberDefault);

    /// <summary>The team, or null when there is none.</summary>
    [Alias("Get")]
    Task<TeamInfo?> GetAsync();

    /// <summary>Renames the team and sets its members' default budget (null leaves each as it is).</summary>
    [Alias("Update")]
    Task<TeamInfo> UpdateAsync(string? name, BudgetLimits? memberDefault);

    /// <summary>Deletes the team; a conflict while it still has members (move or remove them first).</summary>
    [Alias("Delete")]
    Task DeleteAsync();
}
