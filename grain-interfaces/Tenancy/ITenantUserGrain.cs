namespace Orleans.AiFleet.GrainInterfaces.Tenancy;

/// <summary>
/// One per user of an organization (keyed by user id, the identity provider's <c>sub</c>): their organization, role,
/// teams and tier, and the directory entries that list them.
/// </summary>
[Alias("aifleet.ITenantUserGrain")]
public interface ITenantUserGrain : IGrainWithStringKey
{
    /// <summary>The user, or null when no organization has them.</summary>
    [Alias("Get")]
    Task<TenantUser?> GetAsync();

    /// <summary>
    /// Adds the user to an organization or changes them (role, teams, tier, name). Their organization never changes:
    /// a conflict when they belong to another. Every team must exist (not found naming it). A user new to a team with
    /// no limits of their own gets the team's member default.
    /// </summary>
    [Alias("Save")]
    Task<TenantUser> SaveAsync(TenantUserSpec spec);

    /// <summary>
    /// Makes or brings up to date the user a validated token names (just in time, at sign-in): the identity provider
    /// is the source of truth for role, teams and tier. Not found naming the organization or a team we do not know.
    /// </summary>
    [Alias("Provision")]
    Task<TenantUser> ProvisionAsync(TokenIdentity identity);

    /// <summary>Removes the user from their organization and its lists; false when they were not in one.</summary>
    [Alias("Remove")]
    Task<bool> RemoveAsync();
}
