using System.Diagnostics.Metrics;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Courses;

/// <summary>Course-generation sagas that ended, by how (succeeded, failed, cancelled), for alerts on failures.</summary>
internal sealed class SagaMetrics(IMeterFactory meterFactory)
{
    private readonly Counter<long> _ended = meterFactory.Create(InferenceMetrics.MeterName)
        .CreateCounter<long>("aifleet.sagas.ended", "{saga}", "Course-generation sagas that ended, by state (succeeded, failed, cancelled)");

    public void Ended(string state) => _ended.Add(1, new KeyValuePair<string, object?>("state", state));
}
