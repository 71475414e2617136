namespace Orleans.AiFleet.GrainInterfaces.Tenancy;

/// <summary>One per organization (keyed by its id): its name and its teams.</summary>
[Alias("aifleet.IOrgGrain")]
public interface IOrgGrain : IGrainWithStringKey
{
    /// <summary>Creates the organization; a conflict when it exists already.</summary>
    [Alias("Create")]
    Task<OrgInfo> CreateAsync(string name);

    /// <summary>The organization, or null when there is none by this id.</summary>
    [Alias("Get")]
    Task<OrgInfo?> GetAsync();

    /// <summary>Adds a team (called by the team when it is created); false when the organization does not exist.</summary>
    [Alias("AddTeam")]
    Task<bool> AddTeamAsync(string team);

    /// <summary>Forgets a team (called by the team when it is deleted).</summary>
    [Alias("RemoveTeam")]
    Task RemoveTeamAsync(string team);

    /// <summary>The organization's team ids, in order.</summary>
    [Alias("Teams")]
    Task<IReadOnlyList<string>> TeamsAsync();
}
