using System.Diagnostics.Metrics;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// The inference path's instruments on the <c>Orleans.AiFleet</c> meter, tagged by model and version. Exported
/// by OpenTelemetry wherever the silo runs (client-api's /metrics in the embedded default).
/// </summary>
internal sealed class InferenceMetrics
{
    public const string MeterName = "Orleans.AiFleet";

    /// <summary>Durations are exported in seconds (Prometheus' convention), from 50 µs to 10 s.</summary>
    private static readonly IReadOnlyList<double> SecondBuckets =
        [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private static readonly IReadOnlyList<int> BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _queueTime;
    private readonly Histogram<double> _computeTime;
    private readonly Histogram<int> _batchSize;
    private readonly Counter<long> _circuitTransitions;
    private readonly Counter<long> _chatRoutes;
    private readonly Histogram<double> _remoteTime;
    private readonly Counter<long> _terminatedRuns;
    private readonly Counter<long> _served;
    private readonly Histogram<double> _serveTime;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<object, (string Model, string Version, Func<int> Length)> _queues = new();

    public InferenceMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableGauge("aifleet.inference.queue_length", ReadQueues, "{request}", "Requests queued on this silo's replicas of a version, not yet running");
        _served = meter.CreateCounter<long>(
            "aifleet.version.requests", "{request}", "Users' inference requests by model, the version that answered, and outcome (ok or error)");
        _serveTime = meter.CreateHistogram(
            "aifleet.version.request_time", "s", "Users' inference time through the router, by model, version and outcome",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondBuckets });
        _requests = meter.CreateCounter<long>(
            "aifleet.inference.requests", "{request}", "Inference requests by model, version and outcome");
        _queueTime = meter.CreateHistogram(
            "aifleet.inference.queue_time", "s", "Time from enqueue to the start of the request's batch",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondBuckets });
        _computeTime = meter.CreateHistogram(
            "aifleet.inference.compute_time", "s", "ONNX Runtime time of one batch",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondBuckets });
        _batchSize = meter.CreateHistogram(
            "aifleet.inference.batch_size", "{row}", "Rows in one ONNX Runtime run",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });
        _circuitTransitions = meter.CreateCounter<long>(
            "aifleet.router.circuit_transitions", "{transition}", "Replica circuit breakers entering a state, by model, version and state");
        _chatRoutes = meter.CreateCounter<long>(
            "aifleet.router.chat_routes", "{attempt}", "Chat attempts by the model chosen, why it was chosen (requested, cheapest, fallback, hedge) and outcome");
        _terminatedRuns = meter.CreateCounter<long>(
            "aifleet.inference.terminated_runs", "{run}", "ONNX Runtime runs stopped part-way because every request in them was cancelled or timed out");
        _remoteTime = meter.CreateHistogram(
            "aifleet.remote.request_time", "s", "Time of one call to a remote provider, first byte to last, by model and outcome",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondBuckets });
    }

    /// <summary>Counts <paramref name="length"/> in the queue-length gauge until the returned handle is disposed.</summary>
    public IDisposable TrackQueue(string model, string version, Func<int> length)
    {
        var key = new object();
        _queues[key] = (model, version, length);
        return new Untrack(() => _queues.TryRemove(key, out _));
    }

    private IEnumerable<Measurement<int>> ReadQueues() =>
        _queues.Values.GroupBy(q => (q.Model, q.Version))
            .Select(g => new Measurement<int>(g.Sum(q => q.Length()), new("model", g.Key.Model), new("version", g.Key.Version)));

    private sealed class Untrack(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>A user's inference as the router saw it: the version the traffic policy (or the caller) chose, its outcome and time.</summary>
    public void Served(string model, string version, bool failed, double ms)
    {
        var outcome = failed ? "error" : "ok";
        _served.Add(1, new("model", model), new("version", version), new("outcome", outcome));
        _serveTime.Record(ms / 1000, new("model", model), new("version", version), new("outcome", outcome));
    }

    public void ChatRoute(string model, string reason, string outcome) =>
        _chatRoutes.Add(1, new("model", model), new("reason", reason), new("outcome", outcome));

    public void RemoteCall(string model, string outcome, double ms) =>
        _remoteTime.Record(ms / 1000, new("model", model), new("outcome", outcome));

    public void CircuitTransition(string model, string version, string state) =>
        _circuitTransitions.Add(1, new("model", model), new("version", version), new("state", state));

    public void Request(string model, string version, string outcome) =>
        _requests.Add(1, new("model", model), new("version", version), new("outcome", outcome));

    public void TerminatedRun(string model, string version) =>
        _terminatedRuns.Add(1, new("model", model), new("version", version));

    public void QueueTime(string model, string version, Priority lane, double ms) =>
        _queueTime.Record(ms / 1000, new("model", model), new("version", version), new("lane", lane.Name()));

    public void Batch(string model, string version, int rows, double computeMs)
    {
        _batchSize.Record(rows, new("model", model), new("version", version));
        _computeTime.Record(computeMs / 1000, new("model", model), new("version", version));
    }
}
