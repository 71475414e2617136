using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.AiFleet.GrainInterfaces.Tenancy;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Tenancy;

/// <summary>A team's record (keyed <c>org/team</c>), registered with its organization when created.</summary>
// Collected after two idle minutes rather than deactivated on a miss: deactivating while other calls queue for the
// same id (a burst of saves or sign-ins) makes Orleans reject them; two minutes bounds the made-up ids kept alive.
[CollectionAgeLimit(Minutes = 2)]
internal sealed class TeamGrain(
    [PersistentState("team", AiFleetStorage.Name)] IPersistentState<TeamState> state,
    ITenantDirectoryStore directory,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time) : Grain, ITeamGrain
{
    private (string Org, string Team) Key => this.GetPrimaryKeyString().Split('/', 2) is [var org, var team] ? (org, team) : ("", "");

    public async Task<TeamInfo> CreateAsync(string name, BudgetLimits? memberDefault)
    {
        var (org, team) = Key;
        if (!TenantNames.IsId(team))
        {
            throw AiFleetException.Invalid($"a team id is {TenantNames.IdRule}, not '{team}'", "id");
        }

        TenantRules.CheckName(name);

        BudgetLimitRules.Check(memberDefault, "memberDefault");
        if (state.State.Info is not null)
        {
            throw AiFleetException.Conflict($"team '{team}' exists already in organization '{org}'", "id");
        }

        if (!await GrainFactory.GetGrain<IOrgGrain>(org).AddTeamAsync(team))
        {
            throw AiFleetException.NotFound($"no organization has id '{org}'");
        }

        state.State.Info = new TeamInfo(org, team, string.IsNullOrWhiteSpace(name) ? team : name, time.GetUtcNow(), memberDefault);
        await state.WriteOwnStateAsync();
        return state.State.Info;
    }

    public Task<TeamInfo?> GetAsync() => Task.FromResult(state.State.Info);

    public async Task<TeamInfo> UpdateAsync(string? name, BudgetLimits? memberDefault)
    {
        var info = state.State.Info ?? throw NotFound();
        TenantRules.CheckName(name);

        BudgetLimitRules.Check(memberDefault, "memberDefault");
        state.State.Info = info with
        {
            Name = string.IsNullOrWhiteSpace(name) ? info.Name : name,
            MemberDefault = memberDefault ?? info.MemberDefault,
        };
        await state.WriteOwnStateAsync();
        return state.State.Info;
    }

    public async Task DeleteAsync()
    {
        var info = state.State.Info ?? throw NotFound();
        var members = await directory.CountAsync(DirectoryLists.TeamMembers(info.Org, info.Id));
        if (members > 0)
        {
            throw AiFleetException.Conflict($"team '{info.Id}' still has {members} members: move or remove them first");
        }

        // Members who left may still be running requests held on the team's budget: those end first.
        var budget = await GrainFactory.GetGrain<IUserBudgetGrain>(BudgetKeys.Team(info.Org, info.Id)).GetStatusAsync();
        if (budget.OpenReservations > 0)
        {
            throw AiFleetException.Conflict($"team '{info.Id}' has {budget.OpenReservations} open holds on its budget (requests of members who left still running): retry when they end");
        }

        await GrainFactory.GetGrain<IOrgGrain>(info.Org).RemoveTeamAsync(info.Id);
        await state.ClearStateAsync();
        state.State = new TeamState();
    }

    private AiFleetException NotFound() => AiFleetException.NotFound($"no team '{Key.Team}' in organization '{Key.Org}'");
}

[GenerateSerializer, Alias("aifleet.TeamState")]
public sealed class TeamState
{
    [Id(0)]
    public TeamInfo? Info { get; set; }
}
