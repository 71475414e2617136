using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>Builds KServe v2 bodies and reads answers, as a client of the protocol would.</summary>
internal static class KServe
{
    /// <summary>A chat-lm body of <paramref name="rows"/> × <paramref name="sequence"/> token ids (and a zero state per row).</summary>
    public static object ChatLmBody(int rows, int sequence) => new
    {
        inputs = new object[]
        {
            new { name = "input_ids", shape = new[] { rows, sequence }, datatype = "INT64", data = Enumerable.Repeat(5L, rows * sequence) },
            new { name = "state", shape = new[] { rows, 256 }, datatype = "FP32", data = new float[rows * 256] },
        },
    };

    public static JsonObject DigitsBody(int first, int rows = 1, params string[] outputs)
    {
        var data = new JsonArray();
        foreach (var v in Samples.Pixels(first, rows).Fp32!)
        {
            data.Add(v);
        }

        var body = new JsonObject
        {
            ["id"] = $"digits-{first}",
            ["inputs"] = new JsonArray(new JsonObject { ["name"] = "pixels", ["shape"] = new JsonArray(rows, 64), ["datatype"] = "FP32", ["data"] = data }),
        };
        if (outputs.Length > 0)
        {
            body["outputs"] = new JsonArray(outputs.Select(o => (JsonNode)new JsonObject { ["name"] = o }).ToArray());
        }

        return body;
    }

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient http, string path, JsonNode body) =>
        http.PostAsync(path, new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));

    public static Task<HttpResponseMessage> PostRawAsync(this HttpClient http, string path, string body) =>
        http.PostAsync(path, new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>();

    public static float[] Floats(JsonElement output) => output.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();

    public static JsonElement Output(JsonElement response, string name) =>
        response.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == name);
}
