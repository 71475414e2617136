using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.Bench;

/// <summary>One input of a workload's request: its shape (one row in the main benchmark) and its FP32 or INT64 values.</summary>
internal sealed record BenchInput(string Name, long[] Shape, float[]? Floats, long[]? Longs)
{
    public string Datatype => Floats is null ? "INT64" : "FP32";

    public int ByteSize => Floats is null ? Longs!.Length * 8 : Floats.Length * 4;

    public ReadOnlySpan<byte> Bytes => Floats is null ? MemoryMarshal.AsBytes(Longs.AsSpan()) : MemoryMarshal.AsBytes(Floats.AsSpan());

    /// <summary>The row repeated <paramref name="rows"/> times along dimension 0.</summary>
    public OrtValue Batch(int rows)
    {
        long[] shape = [rows, .. Shape[1..]];
        return Floats is null
            ? OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(Longs!, rows).SelectMany(r => r).ToArray(), shape)
            : OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat(Floats, rows).SelectMany(r => r).ToArray(), shape);
    }
}

/// <summary>
/// One model, one request: the same inputs go to raw ONNX Runtime, the naive server and Orleans.AiFleet, as KServe
/// JSON, as the binary tensor extension over HTTP, and as a gRPC <c>ModelInfer</c> with raw tensors.
/// </summary>
internal sealed record Workload(string Model, string ModelPath, string Output, IReadOnlyList<BenchInput> Inputs)
{
    public const int SequenceLength = 24;

    /// <summary>The models the benchmarks serve: two light ones (protocol overhead) and the compute-bound encoder.</summary>
    public static readonly IReadOnlyList<string> Models = ["digits", "text-encoder", "sentence-encoder"];

    public static string PathOf(string repo, string model) =>
        Path.Combine(repo, model, model == "digits" ? "2" : "1", "model.onnx");

    public static Workload Digits(string repo)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(repo, "digits", "samples.json")));
        var row = doc.RootElement.GetProperty("pixels")[0].EnumerateArray().Select(v => v.GetSingle()).ToArray();
        return new Workload("digits", PathOf(repo, "digits"), "probabilities", [new BenchInput("pixels", [1, 64], row, null)]);
    }

    public static Workload TextEncoder(string repo) => Encoder(repo, "text-encoder");

    /// <summary>The MiniLM-L6-shaped encoder: the compute-bound workload.</summary>
    public static Workload SentenceEncoder(string repo) => Encoder(repo, "sentence-encoder");

    private static Workload Encoder(string repo, string model)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(repo, model, "samples.json")));
        var all = doc.RootElement.GetProperty("inputIds").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetInt64())).ToArray();
        var ids = Enumerable.Range(0, SequenceLength).Select(i => all[i % all.Length]).ToArray();
        var mask = ids.Select(_ => 1L).ToArray();
        return new Workload(model, PathOf(repo, model), "sentence_embedding",
            [new BenchInput("input_ids", [1, SequenceLength], null, ids), new BenchInput("attention_mask", [1, SequenceLength], null, mask)]);
    }

    /// <summary>The batch of <paramref name="rows"/> rows raw ONNX Runtime runs.</summary>
    public (string Name, OrtValue Value)[] Batch(int rows) => Inputs.Select(i => (i.Name, i.Batch(rows))).ToArray();

    public string RequestJson => new JsonObject
    {
        ["inputs"] = new JsonArray(Inputs.Select(i => (JsonNode)new JsonObject
        {
            ["name"] = i.Name, ["shape"] = new JsonArray(i.Shape.Select(d => (JsonNode)d).ToArray()), ["datatype"] = i.Datatype,
            ["data"] = i.Floats is null
                ? new JsonArray(i.Longs!.Select(v => (JsonNode)v).ToArray())
                : new JsonArray(i.Floats.Select(v => (JsonNode)v).ToArray()),
        }).ToArray()),
        ["outputs"] = new JsonArray(new JsonObject { ["name"] = Output }),
    }.ToJsonString();

    /// <summary>The binary extension's body (a JSON header, then the raw inputs) and its header's length.</summary>
    public (byte[] Body, int HeaderLength) RequestBinary()
    {
        var header = JsonSerializer.SerializeToUtf8Bytes(new
        {
            parameters = new { binary_data_output = true },
            inputs = Inputs.Select(i => new { name = i.Name, shape = i.Shape, datatype = i.Datatype, parameters = new { binary_data_size = i.ByteSize } }),
            outputs = new[] { new { name = Output } },
        });
        var body = new List<byte>(header);
        foreach (var i in Inputs)
        {
            body.AddRange(i.Bytes.ToArray());
        }

        return (body.ToArray(), header.Length);
    }

    public ModelInferRequest RequestGrpc()
    {
        var request = new ModelInferRequest { ModelName = Model, Outputs = { new ModelInferRequest.Types.InferRequestedOutputTensor { Name = Output } } };
        foreach (var i in Inputs)
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = i.Name, Datatype = i.Datatype };
            tensor.Shape.AddRange(i.Shape);
            request.Inputs.Add(tensor);
            request.RawInputContents.Add(ByteString.CopyFrom(i.Bytes));
        }

        return request;
    }

    /// <summary>gRPC's framing of <see cref="RequestGrpc"/>, as h2load sends it: a compressed flag (0), the length (big-endian), the message.</summary>
    public byte[] RequestGrpcFramed()
    {
        var message = RequestGrpc().ToByteArray();
        var framed = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)message.Length);
        message.CopyTo(framed, 5);
        return framed;
    }
}
