using System.Net;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests;

[Collection(ApiCollection.Name)]
public sealed class KServeApiTests(ApiFixture fixture)
{
    private HttpClient Http => fixture.Http;

    [Fact]
    public async Task GetServerMetadata_ReturnsNameAndVersion()
    {
        var body = await (await Http.GetAsync("/v2")).JsonAsync();

        Assert.Equal("orleans-aifleet", body.GetProperty("name").GetString());
        Assert.Equal("0.1.0", body.GetProperty("version").GetString());
    }

    [Theory]
    [InlineData("/v2/health/live")]
    [InlineData("/v2/health/ready")]
    [InlineData("/health/live")]
    [InlineData("/health/ready")]
    [InlineData("/v2/models/digits/ready")]
    [InlineData("/v2/models/digits/versions/1/ready")]
    [InlineData("/v2/models/text-encoder/ready")]
    public async Task GetHealthAndReadiness_AfterWarmUp_Returns200(string path) =>
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync(path)).StatusCode);

    [Fact]
    public async Task GetModelMetadata_Digits_DescribesVersionsAndSignature()
    {
        var body = await (await Http.GetAsync("/v2/models/digits")).JsonAsync();

        Assert.Equal("digits", body.GetProperty("name").GetString());
        Assert.Equal("onnxruntime_onnx", body.GetProperty("platform").GetString());
        Assert.Equal(["1", "2"], body.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        var input = Assert.Single(body.GetProperty("inputs").EnumerateArray());
        Assert.Equal("pixels", input.GetProperty("name").GetString());
        Assert.Equal("FP32", input.GetProperty("datatype").GetString());
        Assert.Equal([-1L, 64L], input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(["logits", "probabilities"], body.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task GetModelVersionMetadata_NamesOnlyThatVersion()
    {
        var body = await (await Http.GetAsync("/v2/models/text-encoder/versions/1")).JsonAsync();

        Assert.Equal(["1"], body.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(["INT64", "INT64"], body.GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("datatype").GetString()));
    }

    [Fact]
    public async Task Infer_HeldOutDigit_ClassifiesItAndEqualsDirectRun()
    {
        var response = await Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0, outputs: "probabilities"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.Equal("digits", body.GetProperty("model_name").GetString());
        Assert.Equal("2", body.GetProperty("model_version").GetString());
        Assert.Equal("digits-0", body.GetProperty("id").GetString());
        var output = Assert.Single(body.GetProperty("outputs").EnumerateArray());
        Assert.Equal("FP32", output.GetProperty("datatype").GetString());
        Assert.Equal([1L, 10L], output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        var probabilities = KServe.Floats(output);
        Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(0)], "probabilities"), probabilities);
        Assert.Equal(Samples.Label(0), Samples.ArgMax(probabilities));
    }

    [Fact]
    public async Task Infer_NestedDataAndVersionRoute_ServesVersion1()
    {
        var rows = new JsonArray(Enumerable.Range(0, 4).Select(i =>
            (JsonNode)new JsonArray(Samples.Pixels(i).Fp32!.Select(v => (JsonNode)v).ToArray())).ToArray());
        var body = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject { ["name"] = "pixels", ["shape"] = new JsonArray(4, 64), ["datatype"] = "FP32", ["data"] = rows }),
        };

        var response = await (await Http.PostJsonAsync("/v2/models/digits/versions/1/infer", body)).JsonAsync();

        Assert.Equal("1", response.GetProperty("model_version").GetString());
        Assert.False(response.TryGetProperty("id", out _));
        var logits = KServe.Output(response, "logits");
        Assert.Equal([4L, 10L], logits.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Reference.AssertClose(Reference.Run("digits", "1", [Samples.Pixels(0, 4)], "logits"), KServe.Floats(logits));
        Assert.Equal(2, response.GetProperty("outputs").GetArrayLength());
    }

    [Fact]
    public async Task Infer_FieldsInAnyOrderAndUnknownFields_AreAccepted()
    {
        var data = string.Join(",", Samples.Pixels(4).Fp32!.Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        var body = "{\"parameters\":{\"x\":[1,{\"y\":2}]},\"outputs\":[{\"parameters\":{},\"name\":\"logits\"}],"
            + "\"inputs\":[{\"data\":[[" + data + "]],\"parameters\":{},\"datatype\":\"FP32\",\"shape\":[1,64],\"name\":\"pixels\"}],\"id\":\"late-id\"}";

        var response = await Http.PostRawAsync("/v2/models/digits/infer", body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var json = await response.JsonAsync();
        Assert.Equal("late-id", json.GetProperty("id").GetString());
        Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(4)], "logits"), KServe.Floats(KServe.Output(json, "logits")));
    }

    [Fact]
    public async Task Infer_TextEncoderInt64_ReturnsTheSentenceEmbedding()
    {
        var ids = Samples.TokenIds(1);
        var body = new JsonObject
        {
            ["inputs"] = new JsonArray(
                new JsonObject { ["name"] = "input_ids", ["shape"] = new JsonArray(1, ids.Length), ["datatype"] = "INT64", ["data"] = new JsonArray(ids.Select(v => (JsonNode)v).ToArray()) },
                new JsonObject { ["name"] = "attention_mask", ["shape"] = new JsonArray(1, ids.Length), ["datatype"] = "INT64", ["data"] = new JsonArray(ids.Select(_ => (JsonNode)1).ToArray()) }),
            ["outputs"] = new JsonArray(new JsonObject { ["name"] = "sentence_embedding" }),
        };

        var response = await Http.PostJsonAsync("/v2/models/text-encoder/infer", body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var embedding = KServe.Floats(KServe.Output(await response.JsonAsync(), "sentence_embedding"));
        var request = Samples.Sentence(1, ids.Length);
        Reference.AssertClose(Reference.Run("text-encoder", "1", request.Inputs, "sentence_embedding"), embedding, 1e-4f);
        Assert.Equal(1.0, Math.Sqrt(embedding.Sum(v => (double)v * v)), 4); // L2-normalised, like sentence-transformers
    }

    [Fact]
    public async Task Infer_ConcurrentClients_AllAnsweredCorrectly()
    {
        var responses = await Task.WhenAll(Enumerable.Range(0, 64).Select(async i =>
            (i, await (await Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(i % Samples.DigitCount, outputs: "logits"))).JsonAsync())));

        foreach (var (i, body) in responses)
        {
            Reference.AssertClose(
                Reference.Run("digits", "2", [Samples.Pixels(i % Samples.DigitCount)], "logits"),
                KServe.Floats(KServe.Output(body, "logits")));
        }
    }

    [Fact]
    public async Task Metrics_AfterInference_ExposePerModelSeriesAndOrleansMeter()
    {
        await Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(2));

        // The exporter answers from a scrape cached for a moment: read again until this inference is in it.
        var text = "";
        await Eventually.TrueAsync(async () =>
        {
            text = await Http.GetStringAsync("/metrics");
            return System.Text.RegularExpressions.Regex.IsMatch(text, "aifleet_inference_requests_total\\{[^}]*model=\"digits\"[^}]*outcome=\"ok\"[^}]*version=\"2\"");
        }, "the inference's series in /metrics");

        Assert.Contains("aifleet_inference_requests_total{", text);
        Assert.Matches("aifleet_inference_requests_total\\{[^}]*model=\"digits\"[^}]*outcome=\"ok\"[^}]*version=\"2\"", text);
        Assert.Contains("aifleet_inference_queue_time_seconds_bucket{", text);
        Assert.Contains("aifleet_inference_compute_time_seconds_bucket{", text);
        Assert.Contains("aifleet_inference_batch_size_bucket{", text);
        Assert.Contains("orleans_", text);
        Assert.Contains("dotnet_gc_heap_total_allocated_bytes_total", text); // the runtime's own meter
    }

    [Fact]
    public async Task Metrics_OurSeries_PassPromtoolsLint()
    {
        await Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(3));
        var text = await Http.GetStringAsync("/metrics");
        var ours = Scrape.Ours(text);
        Assert.Contains("_seconds_bucket{", ours);

        var (exitCode, output) = await Promtool.RunAsync(ours, "check", "metrics");

        Assert.True(exitCode == 0 && output.Length == 0, $"promtool check metrics (exit {exitCode}):\n{output}");
    }
}
