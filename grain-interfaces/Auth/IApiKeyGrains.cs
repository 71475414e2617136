namespace Orleans.AiFleet.GrainInterfaces.Auth;

/// <summary>One per key, keyed by the key's hash (<see cref="ApiKeyHash"/>): what authentication asks.</summary>
[Alias("aifleet.IApiKeyGrain")]
public interface IApiKeyGrain : IGrainWithStringKey
{
    /// <summary>The key's owner and role; null for a key never issued.</summary>
    [Alias("Get")]
    Task<ApiKeyInfo?> GetAsync();

    [Alias("Set")]
    Task SetAsync(ApiKeyInfo info);
}

/// <summary>
/// The registry of issued keys ("default"): issues them (returning the secret once), lists and revokes them by
/// id, and knows every user who holds one.
/// </summary>
[Alias("aifleet.IApiKeyDirectoryGrain")]
public interface IApiKeyDirectoryGrain : IGrainWithStringKey
{
    public const string DefaultKey = "default";

    [Alias("Create")]
    Task<CreatedApiKey> CreateAsync(string user, string role, string name, string? tier = null);

    /// <summary>
    /// Issues a key to a user of an organization, scoped as <paramref name="spec"/> says: not found naming the user
    /// when they are not in that organization, invalid when the team is not one of theirs or a model name is malformed.
    /// </summary>
    [Alias("CreateFor")]
    Task<CreatedApiKey> CreateForAsync(TenantKeySpec spec);

    [Alias("List")]
    Task<IReadOnlyList<ApiKeyInfo>> ListAsync();

    /// <summary>Revokes the key; false when no key has that id.</summary>
    [Alias("Revoke")]
    Task<bool> RevokeAsync(string id);
}
