using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Fleet;

/// <summary>
/// Each version's desired and ready (in rotation) replica counts as gauges, set by the model's fleet grain on every
/// evaluation and exported by the silo it runs on; taken down when the fleet grain deactivates, so a silo never
/// reports a fleet it no longer holds.
/// </summary>
internal sealed class FleetGauges
{
    private readonly ConcurrentDictionary<(string Model, string Version), (int Desired, int Ready)> _values = new();

    public FleetGauges(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(InferenceMetrics.MeterName);
        meter.CreateObservableGauge("aifleet.fleet.desired_replicas", () => Read(v => v.Desired), "{replica}", "Replicas the fleet wants for a version");
        meter.CreateObservableGauge("aifleet.fleet.ready_replicas", () => Read(v => v.Ready), "{replica}", "A version's replicas warmed up and in rotation");
    }

    public void Set(string model, string version, int desired, int ready) => _values[(model, version)] = (desired, ready);

    public void Remove(string model)
    {
        foreach (var key in _values.Keys.Where(k => k.Model == model))
        {
            _values.TryRemove(key, out _);
        }
    }

    private IEnumerable<Measurement<int>> Read(Func<(int Desired, int Ready), int> pick) =>
        _values.Select(e => new Measurement<int>(pick(e.Value), new("model", e.Key.Model), new("version", e.Key.Version)));
}
