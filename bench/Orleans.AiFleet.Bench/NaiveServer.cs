using System.Runtime.InteropServices;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.ML.OnnxRuntime;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// (b) What a user writes instead: an ASP.NET minimal API with one InferenceSession per model (default options) and
/// one <c>Run</c> per request, no batching, speaking the same protocols so the load is identical: KServe JSON, the
/// binary tensor extension over HTTP, and gRPC <c>ModelInfer</c> with raw tensors on a second (HTTP/2) port.
/// </summary>
internal static class NaiveServer
{
    public sealed record ParametersDto([property: System.Text.Json.Serialization.JsonPropertyName("binary_data_size")] long? BinaryDataSize);

    public sealed record InputDto(string Name, long[] Shape, string Datatype, JsonElement Data, ParametersDto? Parameters);

    public sealed record OutputDto(string Name);

    public sealed record RequestDto(InputDto[] Inputs, OutputDto[]? Outputs);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Run(string repo, int port, int grpcPort)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(System.Net.IPAddress.Loopback, port);
            k.Listen(System.Net.IPAddress.Loopback, grpcPort, l => l.Protocols = HttpProtocols.Http2);
        });
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        var sessions = Workload.Models.ToDictionary(m => m, m => new InferenceSession(Workload.PathOf(repo, m)));
        builder.Services.AddSingleton(sessions);
        var app = builder.Build();
        app.MapGet("/ready", () => "ok");
        app.MapGrpcService<NaiveGrpc>();
        app.MapPost("/v2/models/{model}/infer", async (string model, HttpRequest http) =>
        {
            var session = sessions[model];
            if (http.Headers.TryGetValue("Inference-Header-Content-Length", out var headerLength))
            {
                await BinaryAsync(session, http, int.Parse(headerLength!, System.Globalization.CultureInfo.InvariantCulture));
                return Results.Empty;
            }

            var request = await JsonSerializer.DeserializeAsync<RequestDto>(http.Body, Json);
            var values = request!.Inputs.Select(i => i.Datatype == "FP32"
                ? OrtValue.CreateTensorValueFromMemory(i.Data.EnumerateArray().Select(v => v.GetSingle()).ToArray(), i.Shape)
                : OrtValue.CreateTensorValueFromMemory(i.Data.EnumerateArray().Select(v => v.GetInt64()).ToArray(), i.Shape)).ToList();
            var outputNames = request.Outputs?.Select(o => o.Name).ToArray() ?? session.OutputNames.ToArray();
            // Disposed after the run: an inline `new RunOptions()` can be finalized while Run still uses it (it crashed).
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, request.Inputs.Select(i => i.Name).ToArray(), values, outputNames);
            var outputs = outputNames.Select((name, k) => new
            {
                name,
                datatype = "FP32",
                shape = results[k].GetTensorTypeAndShape().Shape,
                data = results[k].GetTensorDataAsSpan<float>().ToArray(),
            }).ToArray();
            values.ForEach(v => v.Dispose());
            return Results.Ok(new { model_name = model, outputs });
        });
        app.Run();
    }

    /// <summary>The binary extension: a JSON header, then each input's raw little-endian bytes; the answer likewise.</summary>
    private static async Task BinaryAsync(InferenceSession session, HttpRequest http, int headerLength)
    {
        using var body = new MemoryStream();
        await http.Body.CopyToAsync(body);
        var bytes = body.GetBuffer().AsMemory(0, (int)body.Length);
        var request = JsonSerializer.Deserialize<RequestDto>(bytes.Span[..headerLength], Json)!;
        var offset = headerLength;
        var values = new List<OrtValue>();
        foreach (var input in request.Inputs)
        {
            var size = (int)input.Parameters!.BinaryDataSize!.Value;
            var raw = bytes.Span.Slice(offset, size);
            offset += size;
            values.Add(input.Datatype == "FP32"
                ? OrtValue.CreateTensorValueFromMemory(MemoryMarshal.Cast<byte, float>(raw).ToArray(), input.Shape)
                : OrtValue.CreateTensorValueFromMemory(MemoryMarshal.Cast<byte, long>(raw).ToArray(), input.Shape));
        }

        var outputNames = request.Outputs?.Select(o => o.Name).ToArray() ?? session.OutputNames.ToArray();
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, request.Inputs.Select(i => i.Name).ToArray(), values, outputNames);
        var data = outputNames.Select((_, k) => MemoryMarshal.AsBytes(results[k].GetTensorDataAsSpan<float>()).ToArray()).ToArray();
        var header = JsonSerializer.SerializeToUtf8Bytes(new
        {
            outputs = outputNames.Select((name, k) => new
            {
                name,
                datatype = "FP32",
                shape = results[k].GetTensorTypeAndShape().Shape,
                parameters = new { binary_data_size = data[k].Length },
            }),
        });
        values.ForEach(v => v.Dispose());
        http.HttpContext.Response.Headers["Inference-Header-Content-Length"] = header.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        http.HttpContext.Response.ContentType = "application/octet-stream";
        await http.HttpContext.Response.Body.WriteAsync(header);
        foreach (var d in data)
        {
            await http.HttpContext.Response.Body.WriteAsync(d);
        }
    }

    /// <summary>gRPC <c>ModelInfer</c> with raw tensors, one <c>Run</c> per call.</summary>
    private sealed class NaiveGrpc(Dictionary<string, InferenceSession> sessions) : GRPCInferenceService.GRPCInferenceServiceBase
    {
        public override Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
        {
            var session = sessions[request.ModelName];
            var values = request.Inputs.Select((input, i) => input.Datatype == "FP32"
                ? OrtValue.CreateTensorValueFromMemory(MemoryMarshal.Cast<byte, float>(request.RawInputContents[i].Span).ToArray(), input.Shape.ToArray())
                : OrtValue.CreateTensorValueFromMemory(MemoryMarshal.Cast<byte, long>(request.RawInputContents[i].Span).ToArray(), input.Shape.ToArray())).ToList();
            var outputNames = request.Outputs.Count > 0 ? request.Outputs.Select(o => o.Name).ToArray() : session.OutputNames.ToArray();
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, request.Inputs.Select(i => i.Name).ToArray(), values, outputNames);
            var reply = new ModelInferResponse { ModelName = request.ModelName, Id = request.Id };
            for (var k = 0; k < outputNames.Length; k++)
            {
                var tensor = new ModelInferResponse.Types.InferOutputTensor { Name = outputNames[k], Datatype = "FP32" };
                tensor.Shape.AddRange(results[k].GetTensorTypeAndShape().Shape);
                reply.Outputs.Add(tensor);
                reply.RawOutputContents.Add(ByteString.CopyFrom(MemoryMarshal.AsBytes(results[k].GetTensorDataAsSpan<float>())));
            }

            values.ForEach(v => v.Dispose());
            return Task.FromResult(reply);
        }
    }
}
