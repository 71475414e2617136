using Orleans.AiFleet.GrainInterfaces.Lifecycle;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>The model's traffic policy: owned and persisted here, read by routers every second.</summary>
internal sealed partial class ModelFleetGrain
{
    private TrafficPolicy Policy => state.State.Policy ?? new TrafficPolicy(_model.DefaultVersion, [], null);

    public Task<TrafficPolicy> GetPolicyAsync() => Task.FromResult(Policy);

    public async Task<TrafficPolicy> SetPolicyAsync(TrafficPolicy policy, string? experiment = null)
    {
        var current = Policy;
        if (current.Experiment is { } owner && owner != experiment)
        {
            throw AiFleetException.Conflict(
                $"experiment {owner} sets model '{_model.Name}''s traffic; pause it and roll it back or promote it first");
        }

        foreach (var (field, problem) in PolicyProblems(policy))
        {
            throw AiFleetException.Invalid(problem, field);
        }

        foreach (var version in policy.Versions())
        {
            if (state.State.Unloaded.Contains(version))
            {
                throw AiFleetException.Conflict($"model '{_model.Name}' version {version} is unloaded; load it before it takes traffic");
            }
        }

        // Plain arrays: Redis storage writes state with Json.NET, which cannot rebuild the compiler's collection types.
        var next = policy with { Revision = current.Revision + 1, Split = policy.Split.ToArray() };
        state.State.Policy = next;
        await RecordAsync(next.DefaultVersion, 0, 0, $"traffic policy: {Describe(next)}");
        return next;
    }

    public async Task<ModelReadiness> AddVersionAsync(string version)
    {
        await repository.RefreshAsync(_model.Name, force: true); // this silo may not have fetched it yet
        _model = repository.Find(_model.Name)!;
        if (!_model.Versions.Contains(version))
        {
            throw AiFleetException.ModelNotFound($"model '{_model.Name}' has no version '{version}' in the store");
        }

        var policy = _model.Config.Replicas;
        _versions.TryAdd(version, new VersionFleet(version, policy.MinReplicas));
        return await LoadAsync(version);
    }

    public async Task RemoveVersionAsync(string version)
    {
        if (Policy.Versions().Contains(version))
        {
            throw AiFleetException.Conflict($"model '{_model.Name}' version {version} takes traffic; change the traffic policy first");
        }

        if (_versions.ContainsKey(version))
        {
            await UnloadAsync(version);
            _versions.Remove(version);
            state.State.Unloaded.Remove(version);
            state.State.Desired.Remove(version);
            state.State.Faults.Remove(version);
            await RecordAsync(version, 0, 0, "deleted");
        }
    }

    /// <summary>The versions a split or a shadow sends traffic to: they cannot be unloaded while it does.</summary>
    private bool TakesSplitTraffic(string version) =>
        Policy.Split.Any(a => a.Version == version && a.BasisPoints > 0) || Policy.Shadow?.Version == version;

    private IEnumerable<(string Field, string Problem)> PolicyProblems(TrafficPolicy policy)
    {
        if (!_versions.ContainsKey(policy.DefaultVersion))
        {
            yield return ("defaultVersion", $"model '{_model.Name}' has no version '{policy.DefaultVersion}'");
        }

        foreach (var arm in policy.Split)
        {
            if (!_versions.ContainsKey(arm.Version))
            {
                yield return ("split", $"model '{_model.Name}' has no version '{arm.Version}'");
            }

            if (arm.BasisPoints is < 0 or > TrafficPolicy.Whole)
            {
                yield return ("split", $"version {arm.Version}'s share must be from 0 to 100 %");
            }
        }

        if (policy.Split.Count > 0 && policy.Split.Sum(a => a.BasisPoints) != TrafficPolicy.Whole)
        {
            yield return ("split", "the split's shares must add up to 100 %");
        }

        if (policy.Split.Select(a => a.Version).Distinct(StringComparer.Ordinal).Count() != policy.Split.Count)
        {
            yield return ("split", "a version appears twice in the split");
        }

        if (policy.Shadow is { } shadow && !_versions.ContainsKey(shadow.Version))
        {
            yield return ("shadow", $"model '{_model.Name}' has no version '{shadow.Version}'");
        }

        if (policy.Shadow is { BasisPoints: <= 0 or > TrafficPolicy.Whole })
        {
            yield return ("shadow", "the shadow's share must be above 0 and at most 100 %");
        }
    }

    private static string Describe(TrafficPolicy policy)
    {
        var split = policy.Split.Count == 0
            ? $"all to version {policy.DefaultVersion}"
            : string.Join(" / ", policy.Split.Select(a => $"{a.Version}: {a.BasisPoints / 100.0:0.##} %"));
        var shadow = policy.Shadow is { } s ? $", {s.BasisPoints / 100.0:0.##} % mirrored to {s.Version}" : "";
        var owner = policy.Experiment is { } e ? $" (experiment {e})" : "";
        return split + shadow + owner;
    }
}
