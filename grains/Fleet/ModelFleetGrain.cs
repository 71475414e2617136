using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>
/// A model's autoscaler and healer. Every 250 ms, per version:
/// <list type="bullet">
/// <item>the demand is the replicas' reported in-flight requests, or a Holt trend forecast of it one upscale delay
/// ahead when that is higher, so a rising load is met before it arrives;</item>
/// <item>demand per replica above <c>targetInFlightPerReplica</c> for <c>upscaleDelayMs</c> grows the version to
/// the count that brings it back to target (at least one more, at most <c>maxReplicas</c>); below half of it for
/// <c>downscaleDelayMs</c> shrinks it by one (not under <c>minReplicas</c>);</item>
/// <item>a replica in rotation that has not reported for two seconds (its silo died, say) is called again, which
/// re-activates it on a live silo through placement; the move is recorded.</item>
/// </list>
/// A new replica warms up before it enters the routing table; a removed one leaves the table first and is unloaded
/// once routers have refreshed, so no request is sent to a replica that is draining. Not reentrant: decisions and
/// table changes are serial.
/// </summary>
internal sealed partial class ModelFleetGrain(
    [PersistentState("fleet", AiFleetStorage.Name)] IPersistentState<ModelFleetState> state,
    ModelRepository repository,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time,
    ILocalSiloDetails silo,
    IClusterMembershipService membership,
    Microsoft.Extensions.Options.IOptions<FleetOptions> options,
    FleetGauges gauges,
    ILogger<ModelFleetGrain> logger) : Grain, IModelFleetGrain
{
    private const int MaxEvents = 50;
    private static readonly TimeSpan EvaluateEvery = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ReportsStaleAfter = TimeSpan.FromSeconds(2);

    /// <summary>How long a call to a silent replica may hold the (non-reentrant) fleet before the next tick retries.</summary>
    private static readonly TimeSpan ReviveTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long a removed replica keeps serving what routers still send it (<see cref="FleetOptions.DrainAfter"/>).</summary>
    private TimeSpan DrainAfter => options.Value.DrainAfter;

    private readonly Dictionary<string, VersionFleet> _versions = new(StringComparer.Ordinal);
    private RepositoryModel _model = null!;
    private IGrainTimer? _timer;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var name = this.GetPrimaryKeyString();
        if (repository.Find(name) is { IsRemote: false })
        {
            try
            {
                await repository.RefreshAsync(name, cancellationToken: cancellationToken); // versions uploaded while this silo was away
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogStoreUnreachable(logger, name, e.Message); // serve what this silo has; the store is asked again on a miss
            }
        }

        _model = repository.Find(name) ?? throw AiFleetException.ModelNotFound($"model '{name}' is not in the repository");
        var policy = _model.Config.Replicas;
        foreach (var v in _model.Versions)
        {
            var desired = state.State.Desired.GetValueOrDefault(v, policy.MinReplicas);
            _versions[v] = new VersionFleet(v, Math.Clamp(desired, policy.MinReplicas, policy.MaxReplicas));
        }

        _timer = this.RegisterGrainTimer(EvaluateAsync, new GrainTimerCreationOptions { DueTime = EvaluateEvery, Period = EvaluateEvery });
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        gauges.Remove(this.GetPrimaryKeyString());
        return Task.CompletedTask;
    }

    public async Task<IReadOnlyList<ModelReadiness>> EnsureStartedAsync()
    {
        var readiness = new List<ModelReadiness>();
        foreach (var fleet in _versions.Values)
        {
            if (state.State.Unloaded.Contains(fleet.Version))
            {
                readiness.Add(Unloaded(fleet.Version)); // an operator unloaded it: it stays so until loaded
                continue;
            }

            string? error = null;
            try
            {
                await ScaleToAsync(fleet, Math.Max(fleet.Desired, _model.Config.Replicas.MinReplicas));
            }
            catch (Exception e)
            {
                error = e.Message;
                LogWarmUpFailed(logger, e, _model.Name, fleet.Version);
            }

            readiness.Add(new ModelReadiness(_model.Name, fleet.Version, fleet.InRotation, fleet.Desired, error));
        }

        return readiness;
    }

    public async Task<RoutingTable> GetRoutingTableAsync(string version)
    {
        var fleet = _versions.GetValueOrDefault(version)
            ?? throw AiFleetException.ModelNotFound($"model '{_model.Name}' has no version '{version}'");
        if (state.State.Unloaded.Contains(version))
        {
            throw AiFleetException.ModelUnavailable(
                $"model '{_model.Name}' version {version} is unloaded; load it with POST /v2/repository/models/{_model.Name}/load");
        }

        if (fleet.InRotation == 0)
        {
            // First use of a version (or first since an unload): warm it before answering.
            await ScaleToAsync(fleet, Math.Max(fleet.Desired, _model.Config.Replicas.MinReplicas));
        }

        return fleet.Table(_model.Name) with { Faults = state.State.Faults.GetValueOrDefault(version) };
    }

    public async Task SetFaultsAsync(string version, VersionFaults? faults)
    {
        var fleet = Fleet(version);
        if (faults is not null && faults.Problems().FirstOrDefault() is { Problem: { } problem } bad)
        {
            throw AiFleetException.Invalid(problem, bad.Field);
        }

        if (faults is null || faults is { ErrorRate: 0, ExtraLatencyMs: 0 })
        {
            state.State.Faults.Remove(version);
        }
        else
        {
            state.State.Faults[version] = faults;
        }

        fleet.Revision++; // routers take the new table, faults and all, at their next refresh
        await RecordAsync(version, fleet.InRotation, fleet.InRotation, faults is null or { ErrorRate: 0, ExtraLatencyMs: 0 }
            ? "fault injection off"
            : $"fault injection on: {faults.ErrorRate:P1} errors, {faults.ExtraLatencyMs} ms extra latency");
    }

    public async Task<ModelReadiness> LoadAsync(string version)
    {
        var fleet = Fleet(version);
        if (state.State.Unloaded.Remove(version))
        {
            await RecordAsync(version, 0, Math.Max(fleet.Desired, _model.Config.Replicas.MinReplicas), "loaded on request");
        }

        await ScaleToAsync(fleet, Math.Max(fleet.Desired, _model.Config.Replicas.MinReplicas)); // warm before routing
        return new ModelReadiness(_model.Name, version, fleet.InRotation, fleet.Desired);
    }

    public async Task UnloadAsync(string version)
    {
        var fleet = Fleet(version);
        if (TakesSplitTraffic(version))
        {
            throw AiFleetException.Conflict(
                $"model '{_model.Name}' version {version} takes traffic in a split or as a shadow; change the traffic policy first");
        }

        var replicas = fleet.InRotation;
        var unload = Math.Max(Math.Max(replicas, fleet.Desired), _model.Config.Replicas.MinReplicas); // also replicas started outside the fleet
        state.State.Unloaded.Add(version);
        fleet.Desired = 0;
        fleet.InRotation = 0;
        fleet.Revision++; // out of rotation: routers stop sending it requests at their next refresh
        fleet.Draining.Clear();
        fleet.Loads.Clear();
        await RecordAsync(version, replicas, 0, "unloaded on request");

        // Drained before unloading: what routers sent before they refreshed is still answered.
        await Task.Delay(DrainAfter); // wall time: routers refresh on the wall clock, whatever clock the fleet decides by
        await Task.WhenAll(Enumerable.Range(0, unload).Select(i => Replica(version, i).UnloadAsync()));
    }

    public Task<IReadOnlyList<ModelReadiness>> GetReadinessAsync() =>
        Task.FromResult<IReadOnlyList<ModelReadiness>>(_versions.Values
            .Select(f => state.State.Unloaded.Contains(f.Version) ? Unloaded(f.Version) : new ModelReadiness(_model.Name, f.Version, f.InRotation, Math.Max(f.Desired, f.InRotation)))
            .ToArray());

    private ModelReadiness Unloaded(string version) =>
        new(_model.Name, version, 0, 0, "unloaded");

    private VersionFleet Fleet(string version) => _versions.GetValueOrDefault(version)
        ?? throw AiFleetException.ModelNotFound($"model '{_model.Name}' has no version '{version}'");

    public async Task ReportLoadAsync(string version, ReplicaLoad load)
    {
        if (!_versions.TryGetValue(version, out var fleet))
        {
            return;
        }

        var moved = fleet.Loads.TryGetValue(load.ReplicaId, out var last) && last.Load.Silo != load.Silo;
        fleet.Loads[load.ReplicaId] = (load, time.GetTimestamp());
        if (moved)
        {
            // Its old activation is gone (its silo died, most often) and a call re-activated it elsewhere.
            await RecordAsync(version, fleet.InRotation, fleet.InRotation,
                $"replica {load.ReplicaId} lost on silo {last.Load.Silo}; re-activated on silo {load.Silo}");
        }
    }

    public Task ReportCircuitAsync(string version, CircuitReport report)
    {
        if (_versions.TryGetValue(version, out var fleet))
        {
            fleet.Circuits[(report.ReplicaId, report.RouterSilo)] = report;
        }

        return Task.CompletedTask;
    }

    public Task<FleetStatus> GetStatusAsync()
    {
        var policy = _model.Config.Replicas;
        var versions = _versions.Values.Select(f => new FleetVersionStatus(
            f.Version, f.Desired, policy.MinReplicas, policy.MaxReplicas, policy.TargetInFlightPerReplica,
            f.Table(_model.Name).Replicas,
            f.Loads.Values.Select(l => l.Load).OrderBy(l => l.ReplicaId, StringComparer.Ordinal).ToArray(),
            f.Circuits.Values.OrderBy(c => c.ReplicaId, StringComparer.Ordinal).ThenBy(c => c.RouterSilo, StringComparer.Ordinal).ToArray(),
            Math.Round(f.Demand.Forecast(ForecastSteps(policy)), 2))).ToArray();
        return Task.FromResult(new FleetStatus(_model.Name, versions, state.State.Events.ToArray(), silo.SiloAddress.ToString()));
    }

    private async Task RecordAsync(string version, int from, int to, string reason)
    {
        state.State.Events.Add(new ScalingEvent(time.GetUtcNow(), version, from, to, reason));
        if (state.State.Events.Count > MaxEvents)
        {
            state.State.Events.RemoveRange(0, state.State.Events.Count - MaxEvents);
        }

        await state.WriteOwnStateAsync();
        LogScaled(logger, _model.Name, version, from, to, reason);
    }

    private static ReplicaLoad LoadOf(ReplicaStatus status) =>
        new(status.ReplicaId, status.Silo, status.QueueLength, 0, status.CompletedRequests, status.Batches);

    private IModelReplicaGrain Replica(string version, int index) =>
        GrainFactory.GetGrain<IModelReplicaGrain>(ReplicaKey.Format(_model.Name, version, index));

    [LoggerMessage(Level = LogLevel.Information, Message = "Fleet {Model} version {Version}: {From} -> {To} replicas ({Reason})")]
    private static partial void LogScaled(ILogger logger, string model, string version, int from, int to, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Silent replica {Replica} did not answer yet: {Error}")]
    private static partial void LogReviveFailed(ILogger logger, string replica, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Fleet {Model} could not read uploaded versions from the store: {Error}")]
    private static partial void LogStoreUnreachable(ILogger logger, string model, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Fleet {Model} version {Version} could not warm its replicas")]
    private static partial void LogWarmUpFailed(ILogger logger, Exception error, string model, string version);

    private sealed class VersionFleet(string version, int desired)
    {
        public string Version { get; } = version;
        public int Desired { get; set; } = desired;
        public int InRotation { get; set; }
        public long Revision { get; set; }
        public long? OverSince { get; set; }
        public long? UnderSince { get; set; }
        public Dictionary<string, (ReplicaLoad Load, long At)> Loads { get; } = new(StringComparer.Ordinal);
        public Dictionary<int, long> Draining { get; } = [];
        public Dictionary<(string Replica, string Router), CircuitReport> Circuits { get; } = [];
        public HoltForecast Demand { get; } = new(alpha: 0.5, beta: 0.3);

        public RoutingTable Table(string model) => new(
            model, Version, Revision, Enumerable.Range(0, InRotation).Select(i => ReplicaKey.Format(model, Version, i)).ToArray());
    }
}
