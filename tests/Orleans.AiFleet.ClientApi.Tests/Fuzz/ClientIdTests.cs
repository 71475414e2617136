using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.ClientApi.Tests.Fuzz;

/// <summary>
/// Client request ids on every protocol that takes one (KServe HTTP, gRPC, the WebSocket): control characters and
/// huge lengths are a 400 (INVALID_ARGUMENT) naming 'id', never a 500 and never charged; a clean id, accents included,
/// is echoed in the body only, while the response header carries the server's own id.
/// </summary>
[Collection(FuzzCollection.Name)]
public sealed class ClientIdTests(ApiFixture fixture) : IDisposable
{
    private readonly GrpcChannel _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{fixture.GrpcPort}");

    public void Dispose() => _channel.Dispose();

    /// <summary>The ids the issue found and a fixed-seed sample of generated ones (seed 22: the number).</summary>
    public static TheoryData<string, string> Hostile()
    {
        var data = new TheoryData<string, string>
        {
            { "newline", "a\nb" }, { "tab", "a\tb" }, { "control", "a\u0001b" }, { "nul", "\u0000" }, { "257 chars", new string('x', 257) },
            { "70 KB", new string('x', 70 * 1024) }, { "1 MB", new string('x', 1 << 20) },
        };
        var random = new Random(22);
        for (var i = 0; i < 6; i++)
        {
            var length = random.Next(1, 300);
            var text = new StringBuilder(length + 1);
            for (var c = 0; c < length; c++)
            {
                text.Append((char)random.Next(32, 0x3000));
            }

            text.Insert(random.Next(text.Length + 1), (char)random.Next(0, 32)); // one control character somewhere
            data.Add($"generated {i}", text.ToString());
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Hostile))]
    public async Task AHostileId_IsRefusedOnEveryProtocol_NamingId_AndNothingIsCharged(string what, string id)
    {
        var user = $"ids-{Guid.NewGuid():N}";
        var key = await fixture.NewUserKeyAsync(user);
        using var http = fixture.Client(key);

        var body = KServe.DigitsBody(0);
        body["id"] = id;
        using var response = await http.PostAsJsonAsync("/v2/models/digits/infer", body);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{what}: {(int)response.StatusCode}");
        Assert.Contains("'id' must be at most 256 characters", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
        Assert.False(response.Headers.Contains("x-aifleet-request-id"));

        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        var call = new ModelInferRequest { ModelName = "digits", Id = id };
        call.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = "pixels", Datatype = "FP32", Shape = { 1, 64 }, Contents = new InferTensorContents { Fp32Contents = { Samples.Pixels(0).Fp32! } } });
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await grpc.ModelInferAsync(call, new global::Grpc.Core.Metadata { { "authorization", $"Bearer {key}" } }));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("'id' must be at most 256 characters", refused.Status.Detail);

        if (id.Length < 1 << 19) // a WebSocket message is at most 1 MB
        {
            var answer = await OverTheSocketAsync(key, id);
            Assert.Equal("invalid_request_error", answer["code"]!.GetValue<string>());
            Assert.Contains("'id' must be at most 256 characters", answer["error"]!.GetValue<string>());
        }

        var budget = await http.GetFromJsonAsync<JsonElement>("/v1/budget");
        Assert.Equal((0m, 0), (budget.GetProperty("spentToday").GetDecimal(), budget.GetProperty("openReservations").GetInt32()));
    }

    [Fact]
    public async Task ACleanIdWithAccents_IsEchoedInTheBody_TheHeaderCarriesTheServersOwnId()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync($"ids-{Guid.NewGuid():N}"));
        var body = KServe.DigitsBody(0);
        body["id"] = "élève-42";

        using var response = await http.PostAsJsonAsync("/v2/models/digits/infer", body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("élève-42", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString());
        Assert.Matches("^[0-9a-f]{32}$", response.Headers.GetValues("x-aifleet-request-id").Single());
    }

    private async Task<JsonObject> OverTheSocketAsync(string key, string id)
    {
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {key}");
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{fixture.BaseAddress.Port}/v2/ws"), CancellationToken.None);
        var message = new JsonObject { ["id"] = id, ["model"] = "digits", ["inputs"] = KServe.DigitsBody(0)["inputs"]!.DeepClone() };
        await socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[1 << 16];
        var length = 0;
        while (true)
        {
            var part = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
            length += part.Count;
            if (part.EndOfMessage)
            {
                return JsonNode.Parse(buffer.AsSpan(0, length))!.AsObject();
            }
        }
    }
}
