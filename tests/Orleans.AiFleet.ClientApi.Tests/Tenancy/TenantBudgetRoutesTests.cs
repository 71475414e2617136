using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using Orleans.AiFleet.Grpc.Inference;
using GrpcMetadata = Grpc.Core.Metadata;

namespace Orleans.AiFleet.ClientApi.Tests.Tenancy;

/// <summary>
/// No route bypasses a parent budget: a student of a class whose budget is spent is refused on every route that
/// costs money — KServe over HTTP (JSON and binary), gRPC and the WebSocket, embeddings, chat streamed and not, course
/// sagas — with the refusal naming the class; and what a student of a paying class spends on each of them reaches the
/// class's and the organization's budgets to the nano-dollar.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class TenantBudgetRoutesTests(ApiFixture fixture) : IDisposable
{
    private readonly GrpcChannel _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{fixture.GrpcPort}");

    private readonly string _org = $"routes-{Guid.NewGuid():N}"[..20];

    public void Dispose() => _channel.Dispose();

    private async Task<string> StudentKeyAsync(string team, decimal? teamDaily)
    {
        if ((await fixture.Http.GetAsync($"/v1/admin/orgs/{_org}")).StatusCode == HttpStatusCode.NotFound)
        {
            Assert.Equal(HttpStatusCode.Created, (await fixture.Http.PostAsJsonAsync("/v1/admin/orgs", new { id = _org, name = "Routes" })).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Created, (await fixture.Http.PostAsJsonAsync($"/v1/admin/orgs/{_org}/teams", new { id = team })).StatusCode);
        if (teamDaily is { } daily)
        {
            Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync($"/v1/admin/orgs/{_org}/teams/{team}/budget", new { daily })).StatusCode);
        }

        var user = $"{_org}-{team}";
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync($"/v1/admin/orgs/{_org}/users/{user}", new { role = "member", teams = new[] { team } })).StatusCode);
        var key = await fixture.Http.PostAsJsonAsync($"/v1/admin/orgs/{_org}/users/{user}/keys", new { name = "student" });
        return (await key.Content.ReadFromJsonAsync<JsonObject>())!["key"]!.GetValue<string>();
    }

    /// <summary>Every paid route once, each as its protocol answers: (route, status or null for a success, error text).</summary>
    private async Task<List<(string Route, bool Ok, string Error)>> CallEveryRouteAsync(string key)
    {
        var http = fixture.Client(key);
        var results = new List<(string, bool, string)>();
        async Task Http(string route, Func<Task<HttpResponseMessage>> send)
        {
            using var response = await send();
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Accepted or HttpStatusCode.TooManyRequests, $"{route}: {(int)response.StatusCode} {text}");
            results.Add((route, response.IsSuccessStatusCode && !text.Contains("daily_cap"), text));
        }

        var nonce = Guid.NewGuid().ToString("N");
        await Http("kserve-json", () => http.PostAsJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(3)));
        await Http("kserve-binary", () =>
        {
            var header = Encoding.UTF8.GetBytes("""{"inputs":[{"name":"pixels","datatype":"FP32","shape":[1,64],"parameters":{"binary_data_size":256}}]}""");
            var content = new ByteArrayContent([.. header, .. new byte[256]]);
            content.Headers.Add("Inference-Header-Content-Length", header.Length.ToString());
            return http.PostAsync("/v2/models/digits/infer", content);
        });
        await Http("embeddings", () => http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = $"the class budget {nonce}" }));
        await Http("chat", () => http.PostAsJsonAsync("/v1/chat/completions", new { model = "chat-lm", max_tokens = 4, messages = new[] { new { role = "user", content = $"hello {nonce}" } } }));
        await Http("chat-stream", () => http.PostAsJsonAsync("/v1/chat/completions", new { model = "chat-lm", stream = true, max_tokens = 4, messages = new[] { new { role = "user", content = $"stream {nonce}" } } }));
        await Http("course", () => http.PostAsJsonAsync("/v1/courses", new { subject = "Stars", level = "beginner", lessons = 1, language = "English", model = "chat-lm", lesson_tokens = 4 }));

        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        var infer = new ModelInferRequest { ModelName = "digits" };
        var pixels = new ModelInferRequest.Types.InferInputTensor { Name = "pixels", Datatype = "FP32", Contents = new InferTensorContents() };
        pixels.Shape.AddRange([1, 64]);
        pixels.Contents.Fp32Contents.AddRange(new float[64]);
        infer.Inputs.Add(pixels);
        try
        {
            await grpc.ModelInferAsync(infer, new GrpcMetadata { { "authorization", $"Bearer {key}" } });
            results.Add(("grpc", true, ""));
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
        {
            results.Add(("grpc", false, e.Status.Detail));
        }

        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {key}");
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{fixture.BaseAddress.Port}/v2/ws"), CancellationToken.None);
        var message = KServe.DigitsBody(4);
        (message["id"], message["model"]) = ("ws-1", "digits");
        await socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[1 << 16];
        var received = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        var answer = JsonNode.Parse(buffer.AsSpan(0, received.Count))!.AsObject();
        results.Add(("websocket", answer["error"] is null, answer["error"]?.GetValue<string>() ?? ""));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        return results;
    }

    [Fact]
    public async Task AStudentOfAClassWithNothingLeft_IsRefusedOnEveryRoute_NamingTheClass()
    {
        var key = await StudentKeyAsync("spent", teamDaily: 0m);

        var results = await CallEveryRouteAsync(key);

        Assert.Equal(8, results.Count);
        Assert.All(results, r =>
        {
            Assert.False(r.Ok, $"{r.Route} was served on a spent class budget");
            Assert.Contains($"team '{_org}/spent'", r.Error);
            Assert.Contains("daily_cap", r.Error);
        });
    }

    [Fact]
    public async Task WhatAStudentSpendsOnEveryRoute_ReachesTheClassAndTheOrganization_ToTheNanoDollar()
    {
        var key = await StudentKeyAsync("paying", teamDaily: null);
        var user = $"{_org}-paying";

        var results = await CallEveryRouteAsync(key);
        Assert.All(results, r => Assert.True(r.Ok, $"{r.Route}: {r.Error}"));

        // The saga settles when it ends; the slices go back up when idle.
        async Task<decimal> Spent(string path) => (await fixture.Http.GetFromJsonAsync<JsonObject>(path))!["spentToday"]!.GetValue<decimal>();
        async Task<int> Open(string path) => (await fixture.Http.GetFromJsonAsync<JsonObject>(path))!["openReservations"]!.GetValue<int>();
        await Eventually.TrueAsync(async () => await Open($"/v1/admin/orgs/{_org}/users/{user}/budget") == 0
            && await Open($"/v1/admin/orgs/{_org}/teams/paying/budget") == 0 && await Open($"/v1/admin/orgs/{_org}/budget") == 0,
            "every hold settled and every slice returned", TimeSpan.FromSeconds(60));
        var student = await Spent($"/v1/admin/orgs/{_org}/users/{user}/budget");
        Assert.True(student > 0);
        Assert.Equal(student, await Spent($"/v1/admin/orgs/{_org}/teams/paying/budget"));
        Assert.Equal(student, await Spent($"/v1/admin/orgs/{_org}/budget"));
    }
}
