using Orleans.AiFleet.GrainInterfaces.Auth;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Auth;

/// <summary>One issued key's owner and role, persisted under the key's hash.</summary>
internal sealed class ApiKeyGrain([PersistentState("apikey", AiFleetStorage.Name)] IPersistentState<ApiKeyState> state) : Grain, IApiKeyGrain
{
    public Task<ApiKeyInfo?> GetAsync()
    {
        if (state.State.Info is null)
        {
            // Nobody holds this key: do not keep an activation for every made-up key a client presents.
            DeactivateOnIdle();
        }

        return Task.FromResult(state.State.Info);
    }

    public async Task SetAsync(ApiKeyInfo info)
    {
        state.State.Info = info;
        await state.WriteOwnStateAsync();
    }
}

[GenerateSerializer, Alias("aifleet.ApiKeyState")]
public sealed class ApiKeyState
{
    [Id(0)]
    public ApiKeyInfo? Info { get; set; }
}
