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

    /// <summary>How many of those one user's sagas may take: past it, that user's own oldest go, never another's.</summary>
    public const int PerUser = 100;

    private static readonly TimeSpan SaveEvery = TimeSpan.FromSeconds(1);

    private bool _dirty;

    /// <summary>How many indexed sagas are in each state, kept as entries change (for the gauge).</summary>
    private readonly Dictionary<string, int> _states = new(StringComparer.Ordinal);
    private IGrainTimer? _saves;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _saves = this.RegisterGrainTimer(SaveIfChangedAsync, new GrainTimerCreationOptions { DueTime = SaveEvery, Period = SaveEvery });
        foreach (var saga in state.State.Sagas.Values)
        {
            Count(saga.State, +1);
        }

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

        if (known is not null)
        {
            Count(known.State, -1);
        }

        sagas[status.Id] = status;
        Count(status.State, +1);
        var mine = sagas.Values.Where(s => s.User == status.User).ToList();
        if (mine.Count > PerUser)
        {
            Evict(mine.MinBy(s => s.UpdatedAt)!);
        }

        while (sagas.Count > Capacity)
        {
            Evict(sagas.Values.MinBy(s => s.UpdatedAt)!);
        }

        _dirty = true;
        PublishStates();
        return Task.CompletedTask;
    }

    private void Evict(SagaStatus saga)
    {
        state.State.Sagas.Remove(saga.Id);
        Count(saga.State, -1);
    }

    private void Count(string sagaState, int delta)
    {
        var count = _states.GetValueOrDefault(sagaState) + delta;
        if (count == 0)
        {
            _states.Remove(sagaState);
        }
        else
        {
            _states[sagaState] = count;
        }
    }

    private void PublishStates() => metrics.SetStates(new Dictionary<string, int>(_states, StringComparer.Ordinal));

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
