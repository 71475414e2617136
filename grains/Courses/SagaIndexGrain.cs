using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>The latest status of the most recently updated sagas, saved at most once a second.</summary>
[GenerateSerializer, Alias("aifleet.SagaIndexState")]
public sealed class SagaIndexState
{
    [Id(0)] public Dictionary<string, SagaStatus> Sagas { get; set; } = new(StringComparer.Ordinal);
}

internal sealed class SagaIndexGrain(
    [PersistentState("saga-index", AiFleetStorage.Name)] IPersistentState<SagaIndexState> state, SagaMetrics metrics) : Grain, ISagaIndexGrain
{
    /// <summary>How many sagas the index keeps (the least recently updated go first).</summary>
    public const int Capacity = 1000;

    private static readonly TimeSpan SaveEvery = TimeSpan.FromSeconds(1);

    private bool _dirty;
    private IGrainTimer? _saves;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _saves = this.RegisterGrainTimer(SaveIfChangedAsync, new GrainTimerCreationOptions { DueTime = SaveEvery, Period = SaveEvery });
        PublishStates();
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _saves?.Dispose();
        metrics.SetStates([]); // the activation that takes over publishes them
        await SaveIfChangedAsync(cancellationToken);
    }

    public Task RecordAsync(SagaStatus status)
    {
        var sagas = state.State.Sagas;
        if (sagas.TryGetValue(status.Id, out var known) && known.UpdatedAt > status.UpdatedAt)
        {
            return Task.CompletedTask; // a late report of an older step
        }

        sagas[status.Id] = status;
        if (sagas.Count > Capacity)
        {
            foreach (var oldest in sagas.Values.OrderBy(s => s.UpdatedAt).Take(sagas.Count - Capacity).Select(s => s.Id).ToArray())
            {
                sagas.Remove(oldest);
            }
        }

        _dirty = true;
        PublishStates();
        return Task.CompletedTask;
    }

    private void PublishStates() =>
        metrics.SetStates(state.State.Sagas.Values.GroupBy(s => s.State, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal));

    public Task<IReadOnlyList<SagaStatus>> ListAsync(string? user, int limit) =>
        Task.FromResult<IReadOnlyList<SagaStatus>>(state.State.Sagas.Values
            .Where(s => user is null || s.User == user)
            .OrderByDescending(s => s.UpdatedAt)
            .Take(Math.Clamp(limit, 1, Capacity))
            .ToArray());

    private async Task SaveIfChangedAsync(CancellationToken cancellationToken)
    {
        if (!_dirty)
        {
            return;
        }

        _dirty = false;
        try
        {
            await state.WriteStateAsync(cancellationToken);
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            _dirty = true; // the store is down: the index stays in memory and the next tick tries again
        }
    }
}
