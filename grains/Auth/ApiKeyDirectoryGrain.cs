using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Auth;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Tenancy;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Models;
using Orleans.AiFleet.Grains.Tenancy;

namespace Orleans.AiFleet.Grains.Auth;

/// <summary>
/// Issues keys (32 random bytes, base64url, prefixed <c>afk_</c>), keeps each key's id, owner, role, user tier and hash, and
/// revokes by id. The key grain is written before the directory, so a key listed here always authenticates.
/// </summary>
internal sealed class ApiKeyDirectoryGrain(
    [PersistentState("apikeys", AiFleetStorage.Name)] IPersistentState<ApiKeyDirectoryState> state,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time,
    ModelRepository repository) : Grain, IApiKeyDirectoryGrain
{
    public async Task<CreatedApiKey> CreateAsync(string user, string role, string name, string? tier = null)
    {
        repository.Routing.CheckUserTier(tier);

        if (string.IsNullOrWhiteSpace(user) || user.Length > 128 || user.Any(char.IsControl))
        {
            throw AiFleetException.Invalid("'user' must be 1 to 128 printable characters");
        }

        if (!Roles.IsValid(role))
        {
            throw AiFleetException.Invalid($"'role' must be '{Roles.User}' or '{Roles.Admin}', not '{role}'");
        }

        return await IssueAsync(new ApiKeyInfo(NewId(), user, role, name ?? "", time.GetUtcNow(), null, tier));
    }

    public async Task<CreatedApiKey> CreateForAsync(TenantKeySpec spec)
    {
        if (!TenantNames.IsUserId(spec.User) || !TenantNames.IsId(spec.Org))
        {
            throw AiFleetException.Invalid("a key's user and organization must be valid ids", "user");
        }

        var user = await GrainFactory.GetGrain<ITenantUserGrain>(spec.User).GetAsync();
        if (user is null || user.Org != spec.Org)
        {
            throw AiFleetException.NotFound($"no user '{spec.User}' in organization '{spec.Org}'", field: "user");
        }

        if (spec.Team is not null && !user.Teams.Contains(spec.Team))
        {
            throw AiFleetException.Invalid($"'team' must be one of the user's teams ({string.Join(", ", user.Teams)}), not '{spec.Team}'", "team");
        }

        if (spec.Models is { } models && (models.Count is 0 or > TenantKeySpec.MaxModels || models.Any(m => !ModelNames.IsValid(m))))
        {
            throw AiFleetException.Invalid($"'models' is 1 to {TenantKeySpec.MaxModels} model names (letters, digits, '.', '_', '-'), or absent for all", "models");
        }

        TenantRules.CheckName(spec.Name);

        // The role and tier stay the user's (read at each sign-in); the key records only whose it is and how it is narrowed.
        return await IssueAsync(new ApiKeyInfo(NewId(), spec.User, Roles.User, spec.Name, time.GetUtcNow(), null, null, spec.Org, spec.Team,
            spec.Models?.Distinct(StringComparer.Ordinal).ToArray()));
    }

    private async Task<CreatedApiKey> IssueAsync(ApiKeyInfo info)
    {
        var key = "afk_" + Base64Url(RandomNumberGenerator.GetBytes(32));
        var hash = ApiKeyHash.Of(key);
        await GrainFactory.GetGrain<IApiKeyGrain>(hash).SetAsync(info);
        state.State.Keys[info.Id] = new DirectoryEntry(hash, info);
        await state.WriteOwnStateAsync();
        return new CreatedApiKey(info, key);
    }

    public Task<IReadOnlyList<ApiKeyInfo>> ListAsync() =>
        Task.FromResult<IReadOnlyList<ApiKeyInfo>>(state.State.Keys.Values.Select(e => e.Info).OrderBy(i => i.CreatedAt).ToArray());

    public async Task<bool> RevokeAsync(string id)
    {
        if (!state.State.Keys.TryGetValue(id, out var entry))
        {
            return false;
        }

        var revoked = entry.Info with { RevokedAt = entry.Info.RevokedAt ?? time.GetUtcNow() };
        await GrainFactory.GetGrain<IApiKeyGrain>(entry.Hash).SetAsync(revoked);
        state.State.Keys[id] = entry with { Info = revoked };
        await state.WriteOwnStateAsync();
        return true;
    }

    private static string NewId() => "key_" + Base64Url(RandomNumberGenerator.GetBytes(9));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

[GenerateSerializer, Alias("aifleet.ApiKeyDirectoryState")]
public sealed class ApiKeyDirectoryState
{
    [Id(0)]
    public Dictionary<string, DirectoryEntry> Keys { get; set; } = [];
}

[GenerateSerializer, Immutable, Alias("aifleet.ApiKeyDirectoryEntry")]
public sealed record DirectoryEntry([property: Id(0)] string Hash, [property: Id(1)] ApiKeyInfo Info);
