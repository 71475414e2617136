using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Orleans.AiFleet.Grains.Hosting;

// The silo host. With AiFleet:Cluster:Postgres set (env AIFLEET__CLUSTER__POSTGRES) it joins the cluster through
// PostgreSQL membership, with grain state and reminders in Redis when AiFleet:Cluster:Redis is set; without it, it
// runs one localhost silo with in-memory state. Either way it warms every model version once it is active.
var builder = Host.CreateApplicationBuilder(args);
var cluster = builder.Configuration.GetSection(AiFleetClusterOptions.SectionName).Get<AiFleetClusterOptions>() ?? new();
builder.UseOrleans(silo =>
{
    silo.AddAiFleet(cluster);

    // In a Kubernetes pod (k8s/silo.yaml): the silo is named after its pod and advertises the pod IP from the
    // downward API, and silos whose pods are gone are declared dead. Outside a cluster it cannot start, so only there.
    if (cluster.IsConfigured && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST")))
    {
        silo.UseKubernetesHosting();
    }
});
// Prometheus metrics on their own port (AiFleet:Metrics:Port): replicas, queues, fleets, budgets and sagas live on
// the silos, so in cluster mode this is where they are scraped (client-api's /metrics shows only its own process).
var metricsPort = builder.Configuration.GetValue<int?>(AiFleetMetrics.PortKey) ?? 0;
var telemetry = metricsPort > 0
    ? builder.Services.AddAiFleetMetrics(metrics => metrics.AddPrometheusHttpListener(o => o.ConfigureHttpListener = (_, listener) =>
    {
        // Every interface (the pod IP in Kubernetes): the options' Host cannot say "*".
        listener.Prefixes.Clear();
        listener.Prefixes.Add($"http://*:{metricsPort}/metrics/");
    }))
    : builder.Services.AddOpenTelemetry();
if (AiFleetTracing.IsEnabled(builder.Configuration))
{
    // Spans of grain calls, batches, ONNX runs, provider calls and saga steps, exported by OTLP (the OTEL_* variables).
    telemetry.WithTracing(tracing =>
    {
        tracing.AddSource(AiFleetTracing.Sources);
        if (AiFleetTracing.ExportsOtlp(builder.Configuration))
        {
            tracing.AddOtlpExporter();
        }
    });
}

builder.Build().Run();
