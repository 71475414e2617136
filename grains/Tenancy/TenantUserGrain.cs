using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Tenancy;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Tenancy;

/// <summary>
/// A user's place in their organization. The record is written first, then the directory lists (idempotent), so a
/// retried save repairs a list a failed one left behind. A user who joins a team and has no limits of their own gets
/// the team's member default.
/// </summary>
// Collected after two idle minutes rather than deactivated on a miss: deactivating while other calls queue for the
// same id (a burst of saves or sign-ins) makes Orleans reject them; two minutes bounds the made-up ids kept alive.
[CollectionAgeLimit(Minutes = 2)]
internal sealed class TenantUserGrain(
    [PersistentState("tenantuser", AiFleetStorage.Name)] IPersistentState<TenantUserState> state,
    ITenantDirectoryStore directory,
    ModelRepository repository,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time) : Grain, ITenantUserGrain
{
    private string Id => this.GetPrimaryKeyString();

    public Task<TenantUser?> GetAsync() => Task.FromResult(state.State.User);

    public Task<TenantUser> SaveAsync(TenantUserSpec spec) => SaveAsync(spec, TenantUser.FromAdmin);

    public async Task<TenantUser> ProvisionAsync(TokenIdentity identity)
    {
        if (state.State.User is { } known && known.Org == identity.Org && known.Role == identity.Role && known.Tier == identity.Tier
            && known.Teams.SequenceEqual(identity.Teams) && (identity.Name is null || known.Name == identity.Name))
        {
            return known; // the token says what we know: nothing to write
        }

        return await SaveAsync(new TenantUserSpec(identity.Org, identity.Name, identity.Role, identity.Teams, identity.Tier), TenantUser.FromToken);
    }

    public async Task<bool> RemoveAsync()
    {
        if (state.State.User is not { } user)
        {
            return false;
        }

        foreach (var team in user.Teams)
        {
            await directory.RemoveAsync(DirectoryLists.TeamMembers(user.Org, team), Id);
        }

        await directory.RemoveAsync(DirectoryLists.OrgUsers(user.Org), Id);
        await state.ClearStateAsync();
        state.State = new TenantUserState();

        // Charged to no organization from now on; their slices of the old ones are settled.
        await GrainFactory.GetGrain<IUserBudgetGrain>(Id).SetParentsAsync(null, []);
        return true;
    }

    private async Task<TenantUser> SaveAsync(TenantUserSpec spec, string source)
    {
        Check(spec);
        var before = state.State.User;
        if (before is not null && before.Org != spec.Org)
        {
            throw AiFleetException.Conflict($"user '{Id}' belongs to organization '{before.Org}', not '{spec.Org}'");
        }

        if (await GrainFactory.GetGrain<IOrgGrain>(spec.Org).GetAsync() is null)
        {
            throw AiFleetException.NotFound($"no organization has id '{spec.Org}'", field: "org");
        }

        var teams = new List<TeamInfo>();
        foreach (var team in spec.Teams)
        {
            teams.Add(await GrainFactory.GetGrain<ITeamGrain>(TenantNames.TeamKey(spec.Org, team)).GetAsync()
                ?? throw AiFleetException.NotFound($"no team '{team}' in organization '{spec.Org}'", field: "teams"));
        }

        var user = new TenantUser(Id, spec.Org, string.IsNullOrWhiteSpace(spec.Name) ? before?.Name ?? Id : spec.Name, spec.Role,
            spec.Teams.ToArray(), spec.Tier, before?.CreatedAt ?? time.GetUtcNow(), before?.Source ?? source);
        state.State.User = user;
        await state.WriteOwnStateAsync();

        var entry = DirectoryLists.Json(user);
        await directory.SetAsync(DirectoryLists.OrgUsers(user.Org), Id, entry);
        foreach (var team in user.Teams)
        {
            await directory.SetAsync(DirectoryLists.TeamMembers(user.Org, team), Id, entry);
        }

        foreach (var left in before?.Teams.Except(user.Teams, StringComparer.Ordinal) ?? [])
        {
            await directory.RemoveAsync(DirectoryLists.TeamMembers(user.Org, left), Id);
        }

        // Their budget is charged to their teams from now on (slices of teams they left are settled), and the team a
        // user is charged to gives them its member default, unless an admin gave them limits of their own.
        var budget = GrainFactory.GetGrain<IUserBudgetGrain>(Id);
        if (before is null || !before.Teams.SequenceEqual(user.Teams))
        {
            await budget.SetParentsAsync(user.Org, user.Teams);
        }

        if (teams.FirstOrDefault()?.MemberDefault is { } memberDefault)
        {
            await budget.SetDefaultLimitsAsync(memberDefault);
        }

        return user;
    }

    private void Check(TenantUserSpec spec)
    {
        TenantRules.CheckUserId(Id, "id");

        if (!TenantNames.IsId(spec.Org))
        {
            throw AiFleetException.Invalid($"an organization id is {TenantNames.IdRule}", "org");
        }

        if (!TenantRoles.IsValid(spec.Role))
        {
            throw AiFleetException.Invalid($"'role' must be '{TenantRoles.Member}', '{TenantRoles.TeamAdmin}' or '{TenantRoles.OrgAdmin}'", "role");
        }

        if (spec.Teams.Count > TenantNames.MaxTeamsPerUser || spec.Teams.Any(t => !TenantNames.IsId(t))
            || spec.Teams.Distinct(StringComparer.Ordinal).Count() != spec.Teams.Count)
        {
            throw AiFleetException.Invalid($"'teams' is at most {TenantNames.MaxTeamsPerUser} distinct team ids, each {TenantNames.IdRule}", "teams");
        }

        TenantRules.CheckName(spec.Name);

        repository.Routing.CheckUserTier(spec.Tier);
    }
}

[GenerateSerializer, Alias("aifleet.TenantUserState")]
public sealed class TenantUserState
{
    [Id(0)]
    public TenantUser? User { get; set; }
}
