using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.Grains.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Lifecycle;
using Orleans.AiFleet.Grains.Models;
using Orleans.Concurrency;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// One concurrency lane of a model version on this silo: the shared session's lease, a bounded queue and a batch
/// loop. Activation loads (or shares) the session and runs the warm-up before the first request is taken.
/// Reentrant because <see cref="InferAsync"/> only validates and enqueues: it touches no grain state after an
/// await, and the batcher it hands to is thread-safe. Without it, requests would reach the queue one at a time
/// and never form a batch. Always active: idle collection would drop a warm session and make the next request
/// pay for a reload; replicas leave only when unloaded. Placed by <see cref="ReplicaPlacementDirector"/>.
/// </summary>
[Reentrant]
[CollectionAgeLimit(AlwaysActive = true)]
[ReplicaPlacement]
internal sealed partial class ModelReplicaGrain(
    ModelRepository repository,
    OnnxSessionCache sessions,
    RemoteChatClient remote,
    InferenceMetrics metrics,
    DriftProfiles profiles,
    LifecycleCollector lifecycle,
    Microsoft.Extensions.Options.IOptions<LifecycleOptions> lifecycleOptions,
    [FromKeyedServices(AiFleetServiceKeys.Clock)] TimeProvider time,
    ILocalSiloDetails silo,
    ILogger<ModelReplicaGrain> logger) : Grain, IModelReplicaGrain
{
    private RepositoryModel _model = null!;
    private string _version = "";
    private OnnxSessionCache.Lease? _lease;
    private DynamicBatcher? _batcher;
    private IDisposable? _queueGauge;
    private DateTimeOffset? _warmedUpAt;
    private IGrainTimer? _loadReports;
    private CharVocabulary? _vocabulary;
    private InputSampler? _sampler;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var key = this.GetPrimaryKeyString();
        if (!ReplicaKey.TryParse(key, out var name, out var version, out _))
        {
            throw AiFleetException.ModelNotFound($"'{key}' is not a replica key (model/version/index)");
        }

        _model = repository.Find(name) ?? throw AiFleetException.ModelNotFound($"model '{name}' is not in the repository");
        if (!_model.Versions.Contains(version))
        {
            await repository.RefreshAsync(name, force: true, cancellationToken); // uploaded since this silo last looked
            _model = repository.Find(name)!;
        }

        if (!_model.Versions.Contains(version))
        {
            throw AiFleetException.ModelNotFound($"model '{name}' has no version '{version}'");
        }

        _version = version;
        var fleet = GrainFactory.GetGrain<IModelFleetGrain>(name);
        if (_model.IsRemote)
        {
            // A lane of requests to the provider: nothing to load or warm; the fleet scales lanes on in-flight.
            _warmedUpAt = time.GetUtcNow();
            LogWarmedUp(logger, key, "remote:" + _model.Config.Remote!.Provider, 0);
            StartLoadReports(fleet);
            return;
        }

        try
        {
            _lease = sessions.Acquire(_model, version);
        }
        catch (Exception e) when (e is OnnxRuntimeException or InvalidOperationException or IOException)
        {
            LogLoadFailed(logger, e, name, version);
            throw AiFleetException.ModelUnavailable($"model '{name}' version {version} could not be loaded: {e.Message}");
        }

        _batcher = new DynamicBatcher(_lease.Session, metrics, time);
        var batcher = _batcher;
        _queueGauge = metrics.TrackQueue(name, version, () => batcher.QueueLength);
        _sampler = profiles.Find(name, version) is { } profile ? new InputSampler(profile, Math.Max(1, lifecycleOptions.Value.DriftSampleEvery)) : null;
        var sw = Stopwatch.StartNew();
        await _batcher.WarmUpAsync();
        _warmedUpAt = time.GetUtcNow();
        LogWarmedUp(logger, key, _lease.Session.ExecutionProvider, sw.Elapsed.TotalMilliseconds);

        StartLoadReports(fleet);
    }

    /// <summary>The fleet scales on these reports; one-way, so a slow fleet never holds the replica back.</summary>
    private void StartLoadReports(IModelFleetGrain fleet)
    {
        _loadReports = this.RegisterGrainTimer(
            static (self, _) => self.ReportLoadAsync(),
            this,
            new GrainTimerCreationOptions { DueTime = LoadReportEvery, Period = LoadReportEvery, Interleave = true });
        _fleet = fleet;
    }

    private int _remoteInFlight;
    private long _remoteCompleted;

    private static readonly TimeSpan LoadReportEvery = TimeSpan.FromMilliseconds(250);

    private IModelFleetGrain? _fleet;

    private long _reportedResidence;
    private long _reportedAt;

    private Task ReportLoadAsync()
    {
        if (_fleet is not null && _model.IsRemote)
        {
            return _fleet.ReportLoadAsync(_version, new ReplicaLoad(
                this.GetPrimaryKeyString(), silo.SiloAddress.ToString(), 0, _remoteInFlight, _remoteCompleted, 0, _remoteInFlight));
        }

        if (_fleet is null || _batcher is null)
        {
            return Task.CompletedTask;
        }

        if (_sampler?.Drain() is { } sampled)
        {
            lifecycle.Sampled(_model.Name, _version, sampled); // binned here, on the report tick, not per request
        }

        var now = time.GetTimestamp();
        var residence = _batcher.Residence;
        var elapsed = now - _reportedAt;
        var mean = _reportedAt != 0 && elapsed > 0 ? (double)(residence - _reportedResidence) / elapsed : 0;
        (_reportedResidence, _reportedAt) = (residence, now);
        return _fleet.ReportLoadAsync(_version, new ReplicaLoad(
            this.GetPrimaryKeyString(), silo.SiloAddress.ToString(), _batcher.QueueLength, _batcher.InFlight,
            _batcher.CompletedRequests, _batcher.Batches, Math.Round(mean, 2)));
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _loadReports?.Dispose();
        _queueGauge?.Dispose();
        if (_batcher is not null)
        {
            await _batcher.DisposeAsync();
        }

        _lease?.Dispose();
    }

    public Task<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken = default)
    {
        if (_model.IsRemote)
        {
            throw AiFleetException.Invalid($"model '{_model.Name}' is a remote chat model; use POST /v1/chat/completions");
        }

        PreparedRequest prepared;
        try
        {
            prepared = RequestValidator.Prepare(_model.Config, _model.Name, request);
        }
        catch (AiFleetException e) when (e.Kind == FailureKind.InvalidArgument)
        {
            metrics.Request(_model.Name, _version, "invalid");
            throw;
        }

        _sampler?.Offer(request.Inputs);
        return _batcher!.InferAsync(prepared, cancellationToken);
    }

    public Task<ReplicaStatus> WarmUpAsync() => GetStatusAsync();

    public Task<ReplicaStatus> GetStatusAsync() => Task.FromResult(new ReplicaStatus(
        this.GetPrimaryKeyString(),
        _warmedUpAt is not null,
        _warmedUpAt,
        _batcher?.QueueLength ?? 0,
        _batcher?.CompletedRequests ?? _remoteCompleted,
        _batcher?.Batches ?? 0,
        _model.IsRemote ? "remote:" + _model.Config.Remote!.Provider : _lease?.Session.ExecutionProvider ?? "",
        silo.SiloAddress.ToString(),
        _batcher?.TerminatedRuns ?? 0,
        _batcher?.Running ?? 0));

    public Task UnloadAsync()
    {
        // Deactivation waits for the requests already in the grain; OnDeactivateAsync then drains the queue.
        this.DeactivateOnIdle();
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} warmed up on {Provider} in {Ms:0.0} ms")]
    private static partial void LogWarmedUp(ILogger logger, string replica, string provider, double ms);

    [LoggerMessage(Level = LogLevel.Error, Message = "Model {Model} version {Version} could not be loaded")]
    private static partial void LogLoadFailed(ILogger logger, Exception error, string model, string version);
}
