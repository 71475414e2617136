using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// Per-version accuracy (from feedback), population stability index and drift flag as gauges on the
/// <c>Orleans.AiFleet</c> meter, set by the model's experiments grain and exported by the silo it runs on.
/// </summary>
internal sealed class LifecycleGauges
{
    private readonly ConcurrentDictionary<(string Model, string Version), (double? Accuracy, double? Psi, bool? Drifting)> _values = new();

    public LifecycleGauges(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(InferenceMetrics.MeterName);
        meter.CreateObservableGauge("aifleet.version.accuracy", () => Read(v => v.Accuracy), "1", "Share of labelled answers that were right, by model and version");
        meter.CreateObservableGauge("aifleet.version.psi", () => Read(v => v.Psi), "1", "Largest population stability index of a version's live inputs against its reference profile");
        meter.CreateObservableGauge("aifleet.version.drifting", () => Read(v => v.Drifting is { } d ? d ? 1 : 0 : null), "1", "1 while a version's inputs drift past the threshold");
    }

    public void Set(string model, string version, double? accuracy, double? psi, bool? drifting) =>
        _values[(model, version)] = (accuracy, psi, drifting);

    private IEnumerable<Measurement<double>> Read(Func<(double? Accuracy, double? Psi, bool? Drifting), double?> pick)
    {
        foreach (var ((model, version), values) in _values)
        {
            if (pick(values) is { } value)
            {
                yield return new Measurement<double>(value, new("model", model), new("version", version));
            }
        }
    }
}
