using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>
/// A model's autoscaler. Every 250 ms it compares each version's mean in-flight requests per replica (from the
/// replicas' own reports) with <c>targetInFlightPerReplica</c>: above it for <c>upscaleDelayMs</c>, it grows to
/// the count that brings the mean back to target (at least one more, at most <c>maxReplicas</c>); below half of it
/// for <c>downscaleDelayMs</c>, it shrinks by one (not under <c>minReplicas</c>). A new replica warms up before it
/// enters the routing table; a removed one leaves the table first and is unloaded once routers have refreshed,
/// so no request is sent to a replica that is draining. Not reentrant: decisions and table changes are serial.
/// </summary>
internal sealed partial class ModelFleetGrain(
    [PersistentState("fleet", AiFleetStorage.Name)] IPersistentState<ModelFleetState> state,
    ModelRepository repository,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time,
    ILogger<ModelFleetGrain> logger) : Grain, IModelFleetGrain
{
    private const int MaxEvents = 50;
    private static readonly TimeSpan EvaluateEvery = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ReportsStaleAfter = TimeSpan.FromSeconds(2);

    /// <summary>Routers refresh their tables every second; twice that before a removed replica is unloaded.</summary>
    private static readonly TimeSpan DrainAfter = TimeSpan.FromSeconds(2);

    private readonly Dictionary<string, VersionFleet> _versions = new(StringComparer.Ordinal);
    private RepositoryModel _model = null!;
    private IGrainTimer? _timer;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var name = this.GetPrimaryKeyString();
        _model = repository.Find(name) ?? throw new ModelNotFoundException($"model '{name}' is not in the repository");
        var policy = _model.Config.Replicas;
        foreach (var v in _model.Versions)
        {
            var desired = state.State.Desired.GetValueOrDefault(v, policy.MinReplicas);
            _versions[v] = new VersionFleet(v, Math.Clamp(desired, policy.MinReplicas, policy.MaxReplicas));
        }

        _timer = this.RegisterGrainTimer(EvaluateAsync, new GrainTimerCreationOptions { DueTime = EvaluateEvery, Period = EvaluateEvery });
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    public async Task<IReadOnlyList<ModelReadiness>> EnsureStartedAsync()
    {
        var readiness = new List<ModelReadiness>();
        foreach (var fleet in _versions.Values)
        {
            string? error = null;
            try
            {
                await ScaleToAsync(fleet, fleet.Desired);
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
            ?? throw new ModelNotFoundException($"model '{_model.Name}' has no version '{version}'");
        if (fleet.InRotation == 0)
        {
            await ScaleToAsync(fleet, fleet.Desired); // first use of a version: warm it before answering
        }

        return fleet.Table(_model.Name);
    }

    public Task ReportLoadAsync(string version, ReplicaLoad load)
    {
        if (_versions.TryGetValue(version, out var fleet))
        {
            fleet.Loads[load.ReplicaId] = (load, time.GetTimestamp());
        }

        return Task.CompletedTask;
    }

    public Task<FleetStatus> GetStatusAsync()
    {
        var policy = _model.Config.Replicas;
        var versions = _versions.Values.Select(f => new FleetVersionStatus(
            f.Version, f.Desired, policy.MinReplicas, policy.MaxReplicas, policy.TargetInFlightPerReplica,
            f.Table(_model.Name).Replicas,
            f.Loads.Values.Select(l => l.Load).OrderBy(l => l.ReplicaId, StringComparer.Ordinal).ToArray())).ToArray();
        return Task.FromResult(new FleetStatus(_model.Name, versions, state.State.Events.ToArray()));
    }

    private async Task EvaluateAsync(CancellationToken cancellationToken)
    {
        var policy = _model.Config.Replicas;
        foreach (var fleet in _versions.Values.Where(f => f.InRotation > 0))
        {
            await DrainDueAsync(fleet);
            var inFlight = 0;
            for (var i = 0; i < fleet.InRotation; i++)
            {
                if (fleet.Loads.TryGetValue(ReplicaKey.Format(_model.Name, fleet.Version, i), out var report)
                    && time.GetElapsedTime(report.At) < ReportsStaleAfter)
                {
                    inFlight += report.Load.InFlight;
                }
            }

            var mean = (double)inFlight / fleet.InRotation;
            var now = time.GetTimestamp();
            if (mean > policy.TargetInFlightPerReplica && fleet.InRotation < policy.MaxReplicas)
            {
                fleet.UnderSince = null;
                fleet.OverSince ??= now;
                if (time.GetElapsedTime(fleet.OverSince.Value) >= TimeSpan.FromMilliseconds(policy.UpscaleDelayMs))
                {
                    var to = Math.Clamp((int)Math.Ceiling((double)inFlight / policy.TargetInFlightPerReplica), fleet.InRotation + 1, policy.MaxReplicas);
                    await DecideAsync(fleet, to, $"mean in-flight {mean:0.#} per replica above target {policy.TargetInFlightPerReplica} for {policy.UpscaleDelayMs} ms");
                    fleet.OverSince = null;
                }
            }
            else if (mean < policy.TargetInFlightPerReplica / 2.0 && fleet.InRotation > policy.MinReplicas)
            {
                fleet.OverSince = null;
                fleet.UnderSince ??= now;
                if (time.GetElapsedTime(fleet.UnderSince.Value) >= TimeSpan.FromMilliseconds(policy.DownscaleDelayMs))
                {
                    await DecideAsync(fleet, fleet.InRotation - 1, $"mean in-flight {mean:0.#} per replica below half of target {policy.TargetInFlightPerReplica} for {policy.DownscaleDelayMs} ms");
                    fleet.UnderSince = null;
                }
            }
            else
            {
                fleet.OverSince = null;
                fleet.UnderSince = null;
            }
        }
    }

    private async Task DecideAsync(VersionFleet fleet, int to, string reason)
    {
        var from = fleet.InRotation;
        state.State.Desired[fleet.Version] = to;
        state.State.Events.Add(new ScalingEvent(time.GetUtcNow(), fleet.Version, from, to, reason));
        if (state.State.Events.Count > MaxEvents)
        {
            state.State.Events.RemoveRange(0, state.State.Events.Count - MaxEvents);
        }

        await state.WriteStateAsync();
        LogScaled(logger, _model.Name, fleet.Version, from, to, reason);
        await ScaleToAsync(fleet, to);
    }

    private async Task ScaleToAsync(VersionFleet fleet, int target)
    {
        fleet.Desired = target;
        while (fleet.InRotation < target)
        {
            var index = fleet.InRotation;
            fleet.Draining.Remove(index);
            await Replica(fleet.Version, index).WarmUpAsync(); // warm before it takes traffic
            fleet.InRotation++;
            fleet.Revision++;
        }

        while (fleet.InRotation > target)
        {
            fleet.InRotation--;
            fleet.Revision++;
            fleet.Draining[fleet.InRotation] = time.GetTimestamp();
        }
    }

    private async Task DrainDueAsync(VersionFleet fleet)
    {
        foreach (var (index, since) in fleet.Draining.ToArray())
        {
            if (time.GetElapsedTime(since) >= DrainAfter)
            {
                fleet.Draining.Remove(index);
                fleet.Loads.Remove(ReplicaKey.Format(_model.Name, fleet.Version, index));
                await Replica(fleet.Version, index).UnloadAsync();
            }
        }
    }

    private IModelReplicaGrain Replica(string version, int index) =>
        GrainFactory.GetGrain<IModelReplicaGrain>(ReplicaKey.Format(_model.Name, version, index));

    [LoggerMessage(Level = LogLevel.Information, Message = "Fleet {Model} version {Version}: {From} -> {To} replicas ({Reason})")]
    private static partial void LogScaled(ILogger logger, string model, string version, int from, int to, string reason);

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

        public RoutingTable Table(string model) => new(
            model, Version, Revision, Enumerable.Range(0, InRotation).Select(i => ReplicaKey.Format(model, Version, i)).ToArray());
    }
}
