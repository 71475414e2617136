using System.Collections.Concurrent;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using Orleans.AiFleet.Grains.Routing;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// The silo's copy of each model's traffic policy, read from its fleet and refreshed in the background every second
/// (as routing tables are), so applying a split costs a dictionary lookup and a hash per request.
/// </summary>
internal sealed class TrafficPolicyCache(IGrainFactory grains)
{
    private readonly ConcurrentDictionary<string, RefreshedEntry<TrafficPolicy>> _entries = new(StringComparer.Ordinal);

    public ValueTask<TrafficPolicy> GetAsync(string model)
    {
        if (_entries.TryGetValue(model, out var entry))
        {
            if (entry.TryBeginRefresh())
            {
                _ = RefreshAsync(model, entry);
            }

            return ValueTask.FromResult(entry.Value);
        }

        return new ValueTask<TrafficPolicy>(FetchAsync(model));
    }

    private async Task<TrafficPolicy> FetchAsync(string model)
    {
        var policy = await grains.GetGrain<IModelFleetGrain>(model).GetPolicyAsync();
        return _entries.GetOrAdd(model, _ => new RefreshedEntry<TrafficPolicy>(policy)).Value;
    }

    private async Task RefreshAsync(string model, RefreshedEntry<TrafficPolicy> entry)
    {
        try
        {
            entry.Value = await grains.GetGrain<IModelFleetGrain>(model).GetPolicyAsync();
        }
        catch (Exception)
        {
            // The fleet could not answer (its silo is moving): keep the last policy and try again in a second.
        }
        finally
        {
            entry.EndRefresh();
        }
    }
}
