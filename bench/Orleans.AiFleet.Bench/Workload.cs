using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;

namespace Orleans.AiFleet.Bench;

/// <summary>One model, one request: the same inputs go to raw ONNX Runtime, the naive server and Orleans.AiFleet.</summary>
internal sealed record Workload(string Model, string ModelPath, string Output, string RequestJson, Func<int, (string Name, OrtValue Value)[]> Batch)
{
    public const int SequenceLength = 24;

    public static Workload Digits(string repo)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(repo, "digits", "samples.json")));
        var row = doc.RootElement.GetProperty("pixels")[0].EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var request = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "pixels", ["shape"] = new JsonArray(1, 64), ["datatype"] = "FP32",
                ["data"] = new JsonArray(row.Select(v => (JsonNode)v).ToArray()),
            }),
            ["outputs"] = new JsonArray(new JsonObject { ["name"] = "probabilities" }),
        };
        return new Workload("digits", Path.Combine(repo, "digits", "2", "model.onnx"), "probabilities", request.ToJsonString(),
            b => [("pixels", OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(row, b).SelectMany(r => r).ToArray(), [b, 64]))]);
    }

    public static Workload TextEncoder(string repo)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(repo, "text-encoder", "samples.json")));
        var all = doc.RootElement.GetProperty("inputIds").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetInt64())).ToArray();
        var ids = Enumerable.Range(0, SequenceLength).Select(i => all[i % all.Length]).ToArray();
        var mask = ids.Select(_ => 1L).ToArray();
        JsonObject Input(string name, long[] data) => new()
        {
            ["name"] = name, ["shape"] = new JsonArray(1, SequenceLength), ["datatype"] = "INT64",
            ["data"] = new JsonArray(data.Select(v => (JsonNode)v).ToArray()),
        };
        var request = new JsonObject
        {
            ["inputs"] = new JsonArray(Input("input_ids", ids), Input("attention_mask", mask)),
            ["outputs"] = new JsonArray(new JsonObject { ["name"] = "sentence_embedding" }),
        };
        return new Workload("text-encoder", Path.Combine(repo, "text-encoder", "1", "model.onnx"), "sentence_embedding", request.ToJsonString(),
            b =>
            [
                ("input_ids", OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(ids, b).SelectMany(r => r).ToArray(), [b, SequenceLength])),
                ("attention_mask", OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(mask, b).SelectMany(r => r).ToArray(), [b, SequenceLength])),
            ]);
    }
}
