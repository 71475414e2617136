using Orleans.AiFleet.GrainInterfaces.Tenancy;
using Orleans.Concurrency;

namespace Orleans.AiFleet.Grains.Tenancy;

/// <summary>Reads pages of the directory lists; holds nothing, so any silo's activation answers.</summary>
[StatelessWorker]
internal sealed class TenantDirectoryGrain(ITenantDirectoryStore directory) : Grain, ITenantDirectoryGrain
{
    public async Task<Page<OrgInfo>> OrgsAsync(string? after, int limit) =>
        await PageAsync<OrgInfo>(DirectoryLists.Orgs, after, limit, o => o.Id);

    public async Task<Page<TenantUser>> UsersAsync(string org, string? team, string? after, int limit) =>
        await PageAsync<TenantUser>(team is null ? DirectoryLists.OrgUsers(org) : DirectoryLists.TeamMembers(org, team), after, limit, u => u.Id);

    private async Task<Page<T>> PageAsync<T>(string list, string? after, int limit, Func<T, string> id)
    {
        if (limit is < 1 or > Page<T>.MaxLimit)
        {
            throw AiFleetException.Invalid($"'limit' must be 1 to {Page<T>.MaxLimit}", "limit");
        }

        var (values, total) = await directory.PageAsync(list, after, limit + 1);
        var items = values.Take(limit).Select(DirectoryLists.Read<T>).ToArray();
        return new Page<T>(items, values.Count > limit ? id(items[^1]) : null, total);
    }
}
