using System.Text.Json;
using Microsoft.ML.OnnxRuntime;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// (b) What a user writes instead: an ASP.NET minimal API with one InferenceSession (default options) and one
/// <c>Run</c> per request, no batching, speaking the same KServe JSON so the load is identical.
/// </summary>
internal static class NaiveServer
{
    public sealed record InputDto(string Name, long[] Shape, string Datatype, JsonElement Data);

    public sealed record OutputDto(string Name);

    public sealed record RequestDto(InputDto[] Inputs, OutputDto[]? Outputs);

    public static void Run(string repo, int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var sessions = new Dictionary<string, InferenceSession>
        {
            ["digits"] = new(Path.Combine(repo, "digits", "2", "model.onnx")),
            ["text-encoder"] = new(Path.Combine(repo, "text-encoder", "1", "model.onnx")),
        };
        var json = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        app.MapGet("/ready", () => "ok");
        app.MapPost("/v2/models/{model}/infer", async (string model, HttpRequest http) =>
        {
            var request = await JsonSerializer.DeserializeAsync<RequestDto>(http.Body, json);
            var session = sessions[model];
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
}
