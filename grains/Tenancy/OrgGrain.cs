using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Tenancy;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Tenancy;

/// <summary>An organization's record and its team ids; listed in the directory's organizations once created.</summary>
// Collected after two idle minutes rather than deactivated on a miss: deactivating while other calls queue for the
// same id (a burst of saves or sign-ins) makes Orleans reject them; two minutes bounds the made-up ids kept alive.
[CollectionAgeLimit(Minutes = 2)]
internal sealed class OrgGrain(
    [PersistentState("org", AiFleetStorage.Name)] IPersistentState<OrgState> state,
    ITenantDirectoryStore directory,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time) : Grain, IOrgGrain
{
    /// <summary>Teams one organization may have (10,000 classes in 1,000 institutions is ten each on average).</summary>
    public const int MaxTeams = 10_000;

    private string Id => this.GetPrimaryKeyString();

    public async Task<OrgInfo> CreateAsync(string name)
    {
        if (!TenantNames.IsId(Id))
        {
            throw AiFleetException.Invalid($"an organization id is {TenantNames.IdRule}, not '{Id}'", "id");
        }

        TenantRules.CheckName(name);

        if (state.State.Info is { } existing)
        {
            throw AiFleetException.Conflict($"organization '{existing.Id}' exists already", "id");
        }

        var info = new OrgInfo(Id, string.IsNullOrWhiteSpace(name) ? Id : name, time.GetUtcNow());
        state.State.Info = info;
        await state.WriteOwnStateAsync();
        await directory.SetAsync(DirectoryLists.Orgs, Id, DirectoryLists.Json(info));
        return info;
    }

    public Task<OrgInfo?> GetAsync() => Task.FromResult(state.State.Info);

    public async Task<bool> AddTeamAsync(string team)
    {
        if (state.State.Info is null)
        {
            return false;
        }

        if (state.State.Teams.Contains(team))
        {
            return true;
        }

        if (state.State.Teams.Count >= MaxTeams)
        {
            throw AiFleetException.Conflict($"organization '{Id}' has {MaxTeams} teams, the most it may have");
        }

        state.State.Teams.Add(team);
        await state.WriteOwnStateAsync();
        return true;
    }

    public async Task RemoveTeamAsync(string team)
    {
        if (state.State.Teams.Remove(team))
        {
            await state.WriteOwnStateAsync();
        }
    }

    public Task<IReadOnlyList<string>> TeamsAsync() => Task.FromResult<IReadOnlyList<string>>(state.State.Teams.ToArray());
}

[GenerateSerializer, Alias("aifleet.OrgState")]
public sealed class OrgState
{
    [Id(0)]
    public OrgInfo? Info { get; set; }

    [Id(1)]
    public SortedSet<string> Teams { get; set; } = new(StringComparer.Ordinal);
}
