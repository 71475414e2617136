namespace Orleans.AiFleet.GrainInterfaces.Tenancy;

/// <summary>
/// Paged lists of organizations, their users and a team's members, read from the directory store (sorted by id, a
/// page at a time, so a list of 100,000 users costs one page). Stateless: any silo answers.
/// </summary>
[Alias("aifleet.ITenantDirectoryGrain")]
public interface ITenantDirectoryGrain : IGrainWithIntegerKey
{
    [Alias("Orgs")]
    Task<Page<OrgInfo>> OrgsAsync(string? after, int limit);

    /// <summary>An organization's users, or one team's members when <paramref name="team"/> is given.</summary>
    [Alias("Users")]
    Task<Page<TenantUser>> UsersAsync(string org, string? team, string? after, int limit);
}
