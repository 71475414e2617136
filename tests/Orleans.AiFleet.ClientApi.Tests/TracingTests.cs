using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.AspNetCore.Hosting;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>An embedded host with tracing on (<c>AiFleet:Tracing:Enabled</c>; an OTLP endpoint would turn it on too).</summary>
public sealed class TracingFixture() : ApiFixtureBase(TestRepository.Create("digits", ("traced", _ => { })))
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("AiFleet:Tracing:Enabled", "true");
    }
}

[CollectionDefinition(Name)]
public sealed class TracingCollection : ICollectionFixture<TracingFixture>
{
    public const string Name = "tracing";
}

/// <summary>W3C trace context runs from the HTTP request through the grain calls to the replica's batch and its ONNX run.</summary>
[Collection(TracingCollection.Name)]
public sealed class TracingTests(TracingFixture fixture)
{
    [Fact]
    public async Task OneTraceId_RunsFromTheHttpRequest_ToTheReplicasBatch_AndItsOnnxRun()
    {
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Microsoft.AspNetCore" || Grains.Hosting.AiFleetTracing.Sources.Contains(source.Name),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        ActivitySource.AddActivityListener(listener);
        var trace = ActivityTraceId.CreateRandom();

        await InferInTraceAsync(0, trace);

        Activity? batch = null;
        for (var giveUp = DateTime.UtcNow.AddSeconds(5); batch is null; await Task.Delay(50))
        {
            batch = spans.FirstOrDefault(s => s.OperationName == "replica.batch" && s.Links.Any(l => l.Context.TraceId == trace));
            Assert.True(batch is not null || DateTime.UtcNow < giveUp, $"no batch span linked to trace {trace}; spans: " + string.Join("; ",
                spans.Select(s => $"{s.Source.Name}/{s.OperationName} {s.TraceId} links {string.Join(",", s.Links.Select(l => l.Context.TraceId))}")));
        }

        Assert.Contains(spans, s => s.Source.Name == "Microsoft.AspNetCore" && s.TraceId == trace); // the HTTP request
        Assert.Contains(spans, s => s.OperationName == "router.infer" && s.TraceId == trace && (string?)s.GetTagItem("aifleet.model") == "traced");
        Assert.Contains(spans, s => s.Source.Name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal) && s.TraceId == trace); // grain calls
        Assert.Equal("traced", batch.GetTagItem("aifleet.model"));
        Assert.Contains(spans, s => s.OperationName == "onnx.run" && s.ParentSpanId == batch.SpanId);
    }

    [Fact]
    public async Task Metrics_InOpenMetricsFormat_CarryTheTraceIdOfASampledRequest()
    {
        var trace = ActivityTraceId.CreateRandom();
        await InferInTraceAsync(1, trace);

        // A request's latency bucket keeps its trace id as an exemplar (the exporter caches a scrape for a moment).
        var scrape = "";
        await Eventually.TrueAsync(async () =>
        {
            using var get = new HttpRequestMessage(HttpMethod.Get, "/metrics");
            get.Headers.Accept.ParseAdd("application/openmetrics-text; version=1.0.0");
            using var answer = await fixture.Http.SendAsync(get);
            scrape = await answer.Content.ReadAsStringAsync();
            return scrape.Contains($"trace_id=\"{trace}\"", StringComparison.Ordinal);
        }, $"an exemplar with trace {trace}");

        Assert.Contains(scrape.Split('\n'), l => l.StartsWith("aifleet_", StringComparison.Ordinal) && l.Contains($"trace_id=\"{trace}\"", StringComparison.Ordinal));
    }

    /// <summary>A KServe inference of one digit sent inside <paramref name="trace"/> (a sampled W3C traceparent).</summary>
    private async Task InferInTraceAsync(int digit, ActivityTraceId trace)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/traced/infer")
        {
            Content = new StringContent(KServe.DigitsBody(digit).ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
        using var response = await fixture.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
    }
}
