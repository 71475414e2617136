using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>
/// The metrics every AiFleet process exports (client-api on its /metrics, a cluster-mode silo on its own port): our
/// meter, Orleans', the runtime's and Polly's, with exemplars, and only this host's own meters.
/// </summary>
public static class AiFleetMetrics
{
    /// <summary>The configuration key of a silo's Prometheus port (unset: the silo exports no metrics).</summary>
    public const string PortKey = "AiFleet:Metrics:Port";

    /// <summary>The meters exported: ours, Orleans', the .NET runtime's, and Polly's (the routers' retries, hedges and breakers).</summary>
    public static readonly string[] Meters = [InferenceMetrics.MeterName, "Microsoft.Orleans", "System.Runtime", "Polly"];

    /// <summary>Adds the metrics pipeline; <paramref name="exporters"/> adds instrumentation and an exporter.</summary>
    public static OpenTelemetryBuilder AddAiFleetMetrics(this IServiceCollection services, Action<MeterProviderBuilder> exporters)
    {
        var telemetry = services.AddOpenTelemetry().WithMetrics(metrics =>
        {
            // Exemplars: a measurement taken inside a sampled trace keeps its trace id (shown in the OpenMetrics
            // format), so a slow bucket on a dashboard leads to the trace of a request that fell in it.
            metrics.AddMeter(Meters).SetExemplarFilter(ExemplarFilterType.TraceBased);
            exporters(metrics);
        });
        services.ConfigureOpenTelemetryMeterProvider((sp, metrics) => metrics.AddView(OnlyThisHost(sp.GetRequiredService<IMeterFactory>())));
        return telemetry;
    }

    /// <summary>
    /// A view that drops instruments of meters made by another host's <see cref="IMeterFactory"/> in the same process.
    /// OpenTelemetry subscribes by meter name process-wide and gives instruments of the same name one shared stream,
    /// which it deactivates when either meter is disposed: with two hosts in a process (an embedding application, the
    /// test suite), stopping one made the other's series vanish from its scrape, and each scrape mixed in the other's
    /// counts. Process-wide meters (Orleans', the runtime's) have no factory and stay.
    /// </summary>
    private static Func<Instrument, MetricStreamConfiguration?> OnlyThisHost(IMeterFactory own) =>
        instrument => instrument.Meter.Scope is IMeterFactory factory && !ReferenceEquals(factory, own) ? MetricStreamConfiguration.Drop : null;
}
