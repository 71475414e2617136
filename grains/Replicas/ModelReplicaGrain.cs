using System.Diagnostics;
using System.Runtime.CompilerServices;
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

    public IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken = default) =>
        _model.IsRemote ? GenerateRemoteAsync(request, cancellationToken) : GenerateLocalAsync(request, cancellationToken);

    /// <summary>Relays the provider's stream; at most the model's <c>maxInFlight</c> at once, beyond that a 429.</summary>
    private async IAsyncEnumerable<GenerationChunk> GenerateRemoteAsync(
        GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var limit = _model.Config.Remote!.MaxInFlight;
        if (Interlocked.Increment(ref _remoteInFlight) > limit)
        {
            Interlocked.Decrement(ref _remoteInFlight);
            metrics.Request(_model.Name, _version, "overloaded");
            throw AiFleetException.Overloaded($"replica {this.GetPrimaryKeyString()} has {limit} requests in flight to its provider", 50);
        }

        var outcome = "failed";
        try
        {
            await foreach (var chunk in remote.StreamAsync(_model, request, cancellationToken))
            {
                yield return chunk;
            }

            outcome = "ok";
        }
        finally
        {
            Interlocked.Decrement(ref _remoteInFlight);
            Interlocked.Increment(ref _remoteCompleted);
            metrics.Request(_model.Name, _version, cancellationToken.IsCancellationRequested ? "cancelled" : outcome);
        }
    }

    private async IAsyncEnumerable<GenerationChunk> GenerateLocalAsync(
        GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var generation = _model.Config.Generation
            ?? throw AiFleetException.Invalid($"model '{_model.Name}' does not generate text");
        if (request.MaxTokens < 1 || request.Temperature < 0 || request.Temperature > 2)
        {
            throw AiFleetException.Invalid("max tokens must be at least 1 and temperature between 0 and 2");
        }

        _vocabulary ??= CharVocabulary.Load(Path.Combine(_model.Folder, generation.Vocabulary));
        var prompt = _vocabulary.Encode(request.Prompt, generation.ContextLength);
        var random = request.Seed is { } seed ? new Random(seed) : new Random();
        var limit = Math.Min(request.MaxTokens, generation.MaxNewTokens);
        var input = prompt;
        var state = new float[generation.StateSize];
        var produced = 0;
        var finish = "length";
        while (produced < limit)
        {
            // One decoding step: the prompt at first, then the last token, with the recurrent state carried over.
            var step = RequestValidator.Prepare(_model.Config, _model.Name, new InferenceRequest(_model.Name, _version,
                [Tensor.FromInt64s("input_ids", [1, input.Length], input), Tensor.FromFloats(generation.StateInput, [1, state.Length], state)],
                [generation.LogitsOutput, generation.StateOutput]));
            var answer = await _batcher!.InferAsync(step, cancellationToken);
            state = answer.Outputs[1].Fp32!;
            var next = Sample(answer.Outputs[0].Fp32!, request.Temperature, random);
            if (next == CharVocabulary.End)
            {
                finish = "stop";
                break;
            }

            produced++;
            input = [next];
            yield return new GenerationChunk(_vocabulary.Decode(next), prompt.Length, produced, null);
        }

        yield return new GenerationChunk("", prompt.Length, produced, finish);
    }

    /// <summary>The likeliest token at temperature 0; otherwise a draw from the softmax of logits / temperature.</summary>
    private static long Sample(float[] logits, double temperature, Random random)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        if (temperature == 0)
        {
            return best;
        }

        var weights = new double[logits.Length];
        var total = 0.0;
        for (var i = 0; i < logits.Length; i++)
        {
            total += weights[i] = Math.Exp((logits[i] - logits[best]) / temperature);
        }

        var draw = random.NextDouble() * total;
        for (var i = 0; i < weights.Length; i++)
        {
            draw -= weights[i];
            if (draw <= 0)
            {
                return i;
            }
        }

        return best;
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
        _batcher?.TerminatedRuns ?? 0));

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
