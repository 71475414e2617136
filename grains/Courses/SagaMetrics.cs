using System.Diagnostics;
using System.Diagnostics.Metrics;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>
/// Course-generation sagas for alerts and dashboards: those that ended, by how (succeeded, failed, cancelled); how
/// long each step took, by step and outcome; and how many the saga index holds in each state (a gauge exported by
/// the silo the index runs on).
/// </summary>
internal sealed class SagaMetrics
{
    private readonly Counter<long> _ended;
    private readonly Histogram<double> _stepDuration;
    private volatile Dictionary<string, int> _states = new(StringComparer.Ordinal); // replaced whole, never changed

    public SagaMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(InferenceMetrics.MeterName);
        _ended = meter.CreateCounter<long>("aifleet.sagas.ended", "{saga}", "Course-generation sagas that ended, by state (succeeded, failed, cancelled)");
        _stepDuration = meter.CreateHistogram("aifleet.sagas.step_duration", "s",
            "How long a course-generation saga step took, by step (validate, reserve, outline, lessons, create_course, settle, compensate) and outcome (ok, failed, cancelled, retried)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600] });
        meter.CreateObservableGauge("aifleet.sagas", ReadStates, "{saga}", "Course-generation sagas in the saga index (the most recently updated 1,000), by state");
    }

    public void Ended(string state) => _ended.Add(1, new KeyValuePair<string, object?>("state", state));

    /// <summary>Records a step that began at <paramref name="startedTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public void StepEnded(string step, string outcome, long startedTimestamp) =>
        _stepDuration.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds,
            new KeyValuePair<string, object?>("step", step), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>Sets the gauge's counts by state (the saga index, after each change; empty when it deactivates).</summary>
    public void SetStates(Dictionary<string, int> counts) => _states = counts;

    private IEnumerable<Measurement<int>> ReadStates() =>
        _states.Select(s => new Measurement<int>(s.Value, new KeyValuePair<string, object?>("state", s.Key)));
}
