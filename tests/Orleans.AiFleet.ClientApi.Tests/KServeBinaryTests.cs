using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// KServe's binary tensor extension over HTTP: a JSON header whose length <c>Inference-Header-Content-Length</c>
/// gives, then raw little-endian tensors; binary outputs on request, the same way back; bad framing is a 400 naming it.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class KServeBinaryTests(ApiFixture fixture)
{
    private const string Header = "Inference-Header-Content-Length";

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, string path, JsonObject header, params byte[][] blobs)
    {
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var body = json.Concat(blobs.SelectMany(b => b)).ToArray();
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add(Header, json.Length.ToString());
        return await http.PostAsync(path, content);
    }

    private static byte[] Bytes<T>(T[] values) where T : struct => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    [Fact]
    public async Task BinaryInputsAndOutputs_GiveOnnxRuntimesAnswer()
    {
        var pixels = Samples.Pixels(5, rows: 2);
        var header = JsonNode.Parse("""
            {"id":"bin-1","inputs":[{"name":"pixels","datatype":"FP32","shape":[2,64],"parameters":{"binary_data_size":512}}],
             "outputs":[{"name":"probabilities","parameters":{"binary_data":true}}]}
            """)!.AsObject();

        using var response = await PostAsync(fixture.Http, "/v2/models/digits/infer", header, Bytes(pixels.Fp32!));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync();
        var length = int.Parse(response.Headers.GetValues(Header).Single());
        var json = JsonDocument.Parse(body.AsMemory(0, length)).RootElement;
        var output = json.GetProperty("outputs")[0];
        Assert.Equal(80, output.GetProperty("parameters").GetProperty("binary_data_size").GetInt32());
        Assert.False(output.TryGetProperty("data", out _));
        Assert.Equal(length + 80, body.Length);
        Reference.AssertClose(Reference.Run("digits", "2", [pixels], "probabilities"), MemoryMarshal.Cast<byte, float>(body.AsSpan(length)).ToArray());
        Assert.Equal("bin-1", json.GetProperty("id").GetString());
    }

    [Fact]
    public async Task BinaryAndJsonInputsMix_AndBinaryDataOutputAsksForEveryOutput()
    {
        var ids = Samples.TokenIds(1);
        var header = new JsonObject
        {
            ["parameters"] = new JsonObject { ["binary_data_output"] = true },
            ["inputs"] = new JsonArray(
                new JsonObject { ["name"] = "input_ids", ["datatype"] = "INT64", ["shape"] = new JsonArray(1, ids.Length), ["parameters"] = new JsonObject { ["binary_data_size"] = ids.Length * 8 } },
                new JsonObject { ["name"] = "attention_mask", ["datatype"] = "INT64", ["shape"] = new JsonArray(1, ids.Length), ["data"] = new JsonArray(Enumerable.Repeat(1, ids.Length).Select(v => (JsonNode)v).ToArray()) }),
        };

        using var response = await PostAsync(fixture.Http, "/v2/models/text-encoder/infer", header, Bytes(ids));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType?.MediaType);
        var length = int.Parse(response.Headers.GetValues(Header).Single());
        var outputs = JsonDocument.Parse((await response.Content.ReadAsByteArrayAsync()).AsMemory(0, length)).RootElement.GetProperty("outputs");
        Assert.All(outputs.EnumerateArray(), o => Assert.True(o.GetProperty("parameters").GetProperty("binary_data_size").GetInt32() > 0));
    }

    [Theory]
    [InlineData("size", "takes 512 bytes")]
    [InlineData("short", "only 100 follow")]
    [InlineData("extra", "add up to 512")]
    [InlineData("both", "both 'data' and")]
    [InlineData("header", "Inference-Header-Content-Length")]
    public async Task BadFraming_Is400NamingIt(string fault, string expected)
    {
        var input = new JsonObject { ["name"] = "pixels", ["datatype"] = "FP32", ["shape"] = new JsonArray(2, 64), ["parameters"] = new JsonObject { ["binary_data_size"] = fault == "size" ? 500 : 512 } };
        if (fault == "both")
        {
            input["data"] = new JsonArray(Enumerable.Repeat(0f, 128).Select(v => (JsonNode)v).ToArray());
        }

        var header = new JsonObject { ["inputs"] = new JsonArray(input) };
        var blob = fault switch { "short" => new byte[100], "extra" => new byte[600], _ => new byte[512] };
        using var response = fault == "header"
            ? await fixture.Http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v2/models/digits/infer")
            {
                Content = new ByteArrayContent(Encoding.UTF8.GetBytes(header.ToJsonString()).Concat(blob).ToArray()) { Headers = { { Header, "999999" } } },
            })
            : await PostAsync(fixture.Http, "/v2/models/digits/infer", header, blob);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString();
        Assert.Contains(expected, error);
        if (fault is not "header" and not "extra")
        {
            Assert.Contains("pixels", error);
        }
    }
}
