using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using GrpcMetadata = Grpc.Core.Metadata;
using Grpc.Net.Client;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// KServe v2 over gRPC with a client generated from the shipped proto (client-api/Protos/open_inference_grpc.proto):
/// health and metadata, inference with typed and raw tensors (the same answers as ONNX Runtime itself), the same keys,
/// budgets and errors as the HTTP routes, as gRPC status codes.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class GrpcApiTests(ApiFixture fixture) : IDisposable
{
    private readonly GrpcChannel _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{fixture.GrpcPort}");

    public void Dispose() => _channel.Dispose();

    private GRPCInferenceService.GRPCInferenceServiceClient Client => new(_channel);

    private static GrpcMetadata Key(string key) => new() { { "authorization", $"Bearer {key}" } };

    [Fact]
    public async Task HealthIsOpen_MetadataNeedsAKey()
    {
        Assert.True((await Client.ServerLiveAsync(new ServerLiveRequest())).Live);
        Assert.True((await Client.ServerReadyAsync(new ServerReadyRequest())).Ready);

        var anonymous = await Assert.ThrowsAsync<RpcException>(async () => await Client.ServerMetadataAsync(new ServerMetadataRequest()));
        Assert.Equal(StatusCode.Unauthenticated, anonymous.StatusCode);

        var key = Key(await fixture.NewUserKeyAsync($"grpc-meta-{Guid.NewGuid():N}"));
        Assert.Equal("orleans-aifleet", (await Client.ServerMetadataAsync(new ServerMetadataRequest(), key)).Name);
        var digits = await Client.ModelMetadataAsync(new ModelMetadataRequest { Name = "digits" }, key);
        Assert.Equal(("pixels", "FP32"), (digits.Inputs[0].Name, digits.Inputs[0].Datatype));
        Assert.Contains("2", digits.Versions);
        Assert.True((await Client.ModelReadyAsync(new ModelReadyRequest { Name = "digits" }, key)).Ready);

        var missing = await Assert.ThrowsAsync<RpcException>(async () => await Client.ModelMetadataAsync(new ModelMetadataRequest { Name = "no-such-model" }, key));
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
        Assert.Contains("no-such-model", missing.Status.Detail);
    }

    [Fact]
    public async Task ModelInfer_TypedAndRaw_GiveOnnxRuntimesAnswer_AndAreCharged()
    {
        var user = $"grpc-infer-{Guid.NewGuid():N}";
        var secret = await fixture.NewUserKeyAsync(user);
        var pixels = Samples.Pixels(3, rows: 2);
        var expected = Reference.Run("digits", "2", [pixels], "probabilities");

        var typed = new ModelInferRequest { ModelName = "digits", Id = "typed-1", Outputs = { new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "probabilities" } } };
        typed.Inputs.Add(Input("pixels", "FP32", [2, 64], c => c.Fp32Contents.AddRange(pixels.Fp32!)));
        var answer = await Client.ModelInferAsync(typed, Key(secret));
        Assert.Equal(("digits", "2", "typed-1"), (answer.ModelName, answer.ModelVersion, answer.Id));
        Assert.Equal([2L, 10L], answer.Outputs[0].Shape);
        Reference.AssertClose(expected, answer.Outputs[0].Contents.Fp32Contents.ToArray());

        var raw = new ModelInferRequest { ModelName = "digits", ModelVersion = "2", Outputs = { new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "probabilities" } } };
        raw.Inputs.Add(Input("pixels", "FP32", [2, 64], null));
        raw.RawInputContents.Add(ByteString.CopyFrom(MemoryMarshal.AsBytes(pixels.Fp32!.AsSpan())));
        var rawAnswer = await Client.ModelInferAsync(raw, Key(secret));
        Assert.Null(rawAnswer.Outputs[0].Contents);
        Reference.AssertClose(expected, MemoryMarshal.Cast<byte, float>(rawAnswer.RawOutputContents[0].Span).ToArray());

        // INT64 raw tensors into the text encoder.
        var ids = Samples.TokenIds(0);
        var encoder = new ModelInferRequest { ModelName = "text-encoder", Outputs = { new ModelInferRequest.Types.InferRequestedOutputTensor { Name = "sentence_embedding" } } };
        encoder.Inputs.Add(Input("input_ids", "INT64", [1, ids.Length], null));
        encoder.Inputs.Add(Input("attention_mask", "INT64", [1, ids.Length], null));
        encoder.RawInputContents.Add(ByteString.CopyFrom(MemoryMarshal.AsBytes(ids.AsSpan())));
        encoder.RawInputContents.Add(ByteString.CopyFrom(MemoryMarshal.AsBytes(Enumerable.Repeat(1L, ids.Length).ToArray().AsSpan())));
        var embedding = await Client.ModelInferAsync(encoder, Key(secret));
        Assert.Equal([1L, 64L], embedding.Outputs[0].Shape);
        Assert.Equal(64 * 4, embedding.RawOutputContents[0].Length);

        // Charged to the key's user like the HTTP route, per row at each model's cost: 2 + 2 digits and one sentence,
        // settled when the router returns its idle slice of the budget (about two seconds after the last call).
        using var http = fixture.Client(secret);
        var expectedSpend = (4 * 0.00001m) + 0.0001m;
        var giveUp = DateTime.UtcNow.AddSeconds(20);
        decimal spent;
        while ((spent = (await http.GetFromJsonAsync<JsonElement>("/v1/usage")).GetProperty("totalSpend").GetDecimal()) < expectedSpend)
        {
            Assert.True(DateTime.UtcNow < giveUp, $"gRPC inference charged {spent} after 20 s, not {expectedSpend}");
            await Task.Delay(200);
        }

        Assert.Equal(expectedSpend, spent);
    }

    [Theory]
    [InlineData("count", "needs 128 values")]
    [InlineData("datatype", "does not support")]
    [InlineData("raw-length", "takes 512")]
    [InlineData("nan", "not a finite number")]
    [InlineData("shape", "more than")]
    public async Task BadTensors_AreInvalidArgument_NamingTheInput(string fault, string expected)
    {
        var key = Key(await fixture.NewUserKeyAsync($"grpc-bad-{Guid.NewGuid():N}"));
        var request = new ModelInferRequest { ModelName = "digits" };
        switch (fault)
        {
            case "count":
                request.Inputs.Add(Input("pixels", "FP32", [2, 64], c => c.Fp32Contents.AddRange(new float[64])));
                break;
            case "datatype":
                request.Inputs.Add(Input("pixels", "BYTES", [1, 64], c => c.BytesContents.Add(ByteString.Empty)));
                break;
            case "raw-length":
                request.Inputs.Add(Input("pixels", "FP32", [2, 64], null));
                request.RawInputContents.Add(ByteString.CopyFrom(new byte[100]));
                break;
            case "nan":
                request.Inputs.Add(Input("pixels", "FP32", [1, 64], c => c.Fp32Contents.AddRange(Enumerable.Repeat(float.NaN, 64))));
                break;
            case "shape":
                request.Inputs.Add(Input("pixels", "FP32", [1L << 40, 64], c => c.Fp32Contents.Add(1f)));
                break;
        }

        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.ModelInferAsync(request, key));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("pixels", error.Status.Detail);
        Assert.Contains(expected, error.Status.Detail);
        Assert.Equal("invalid_request_error", error.Trailers.GetValue("aifleet-code"));
    }

    [Fact]
    public async Task RepositoryRpcs_AreForAdmins()
    {
        var user = Key(await fixture.NewUserKeyAsync($"grpc-repo-{Guid.NewGuid():N}"));
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await Client.RepositoryIndexAsync(new RepositoryIndexRequest(), user));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);

        var index = await Client.RepositoryIndexAsync(new RepositoryIndexRequest { Ready = true }, Key(TestKeys.Admin));
        Assert.Contains(index.Models, m => m is { Name: "digits", Version: "2", State: "READY" });
    }

    private static ModelInferRequest.Types.InferInputTensor Input(string name, string datatype, long[] shape, Action<InferTensorContents>? fill)
    {
        var input = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = datatype };
        input.Shape.AddRange(shape);
        if (fill is not null)
        {
            input.Contents = new InferTensorContents();
            fill(input.Contents);
        }

        return input;
    }
}
