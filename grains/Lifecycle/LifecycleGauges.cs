using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// Per-version accuracy (from feedback), population stability index and drift flag as gauges on the
/// <c>Orleans.AiFleet</c> meter, set by the model's experiments grain and exported by the silo it runs on; taken
/// down when that grain deactivates, so a silo never reports a model whose experiments grain it no longer holds.
/// </summary>
internal sealed class LifecycleGauges
{
    private readonly ConcurrentDictionary<(string Model, string Version), (double? Accuracy, double? Psi, bool? Drifting)> _values = new();

    private readonly ConcurrentDictionary<string, ArmShare[]> _arms = new(StringComparer.Ordinal);

    /// <summary>One arm of a live experiment: its share of traffic (percent) and the requests it has served.</summary>
    public readonly record struct ArmShare(string Experiment, string Version, string Role, double Share, long Requests);

    public LifecycleGauges(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(InferenceMetrics.MeterName);
        meter.CreateObservableGauge("aifleet.version.accuracy", () => Read(v => v.Accuracy), "1", "Share of labelled answers that were right, by model and version");
        meter.CreateObservableGauge("aifleet.version.psi", () => Read(v => v.Psi), "1", "Largest population stability index of a version's live inputs against its reference profile");
        meter.CreateObservableGauge("aifleet.rollout.share_percent", () => ReadArms(shares: true), "%", "Each arm's share of a live experiment's traffic, by model, version, role (candidate, baseline) and experiment");
        meter.CreateObservableGauge("aifleet.rollout.requests", () => ReadArms(shares: false), "{request}", "Requests each arm of a live experiment has served since it started");
        meter.CreateObservableGauge("aifleet.version.drifting", () => Read(v => v.Drifting is { } d ? d ? 1 : 0 : null), "1", "1 while a version's inputs drift past the threshold");
    }

    public void Set(string model, string version, double? accuracy, double? psi, bool? drifting) =>
        _values[(model, version)] = (accuracy, psi, drifting);

    /// <summary>Stops reporting <paramref name="model"/> (its experiments grain deactivated here).</summary>
    public void Remove(string model)
    {
        _arms.TryRemove(model, out _);
        foreach (var key in _values.Keys.Where(k => k.Model == model))
        {
            _values.TryRemove(key, out _);
        }
    }

    /// <summary>The arms of <paramref name="model"/>'s live experiments (running or paused), replacing the last ones.</summary>
    public void SetArms(string model, IEnumerable<ArmShare> arms) => _arms[model] = arms.ToArray();

    private IEnumerable<Measurement<double>> ReadArms(bool shares)
    {
        foreach (var (model, arms) in _arms)
        {
            foreach (var (experiment, version, role, share, requests) in arms)
            {
                yield return new Measurement<double>(shares ? share : requests,
                    new("model", model), new("version", version), new("role", role), new("experiment", experiment));
            }
        }
    }

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
