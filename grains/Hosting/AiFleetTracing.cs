using System.Diagnostics;
using Microsoft.Extensions.Configuration;

namespace Orleans.AiFleet.Grains.Hosting;

/// <summary>
/// Traces: the <c>Orleans.AiFleet</c> activity source (router choices, replica batches linked to their requests,
/// ONNX runs, saga steps), the other sources worth exporting with it, and whether tracing is on: when an OTLP endpoint
/// is configured by the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (or <c>..._TRACES_ENDPOINT</c>) variable, or
/// <c>AiFleet:Tracing:Enabled</c> is true. Grain calls always carry the caller's trace context; spans are only made
/// while a listener (the tracer provider, when tracing is on) wants them.
/// </summary>
public static class AiFleetTracing
{
    public const string SourceName = "Orleans.AiFleet";

    /// <summary>
    /// What a tracer provider should listen to: this project's spans, grain calls and outgoing HTTP (providers). Orleans
    /// files calls to interfaces in a namespace starting with "Orleans" (ours: Orleans.AiFleet...) under its runtime
    /// source, so that source is needed for the grain-call spans that carry the trace between silos.
    /// </summary>
    public static readonly string[] Sources = [SourceName, "Microsoft.Orleans.Application", "Microsoft.Orleans.Runtime", "System.Net.Http"];

    internal static readonly ActivitySource Source = new(SourceName);

    public static bool IsEnabled(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
        || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
        || string.Equals(configuration["AiFleet:Tracing:Enabled"], "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>An OTLP exporter is wanted (an endpoint is set); tests that only listen in-process leave it off.</summary>
    public static bool ExportsOtlp(IConfiguration configuration) =>
        !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"])
        || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]);
}
