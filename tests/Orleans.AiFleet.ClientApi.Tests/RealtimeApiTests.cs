using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// Real-time predictions over a WebSocket: authenticated at the upgrade, many requests in flight on one connection,
/// each answer matched to its request by id (in whatever order they finish), errors per request, oversized messages
/// closing the connection.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class RealtimeApiTests(ApiFixture fixture, BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private Uri Endpoint => new($"ws://127.0.0.1:{fixture.BaseAddress.Port}/v2/ws");

    private async Task<ClientWebSocket> ConnectAsync(string? key)
    {
        var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (key is not null)
        {
            socket.Options.SetRequestHeader("Authorization", $"Bearer {key}");
        }

        await socket.ConnectAsync(Endpoint, CancellationToken.None);
        return socket;
    }

    private static async Task SendAsync(ClientWebSocket socket, string text) =>
        await socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task<JsonObject?> ReceiveAsync(ClientWebSocket socket)
    {
        var buffer = new byte[1 << 20];
        var length = 0;
        while (true)
        {
            var part = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
            if (part.MessageType == WebSocketMessageType.Close)
            {
                return null;
            }

            length += part.Count;
            if (part.EndOfMessage)
            {
                return JsonNode.Parse(buffer.AsSpan(0, length))!.AsObject();
            }
        }
    }

    [Fact]
    public async Task AnUpgradeWithoutAKey_IsRefused()
    {
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(Endpoint, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, socket.HttpStatusCode);
    }

    [Fact]
    public async Task ManyRequestsOnOneConnection_AreEachAnsweredById_ErrorsIncluded()
    {
        using var socket = await ConnectAsync(await fixture.NewUserKeyAsync($"ws-{Guid.NewGuid():N}"));
        const int count = 150; // more than the 64 a connection may have in flight: the rest wait in TCP
        for (var i = 0; i < count; i++)
        {
            var body = KServe.DigitsBody(i % Samples.DigitCount, 1, "probabilities");
            body["id"] = $"r{i}";
            body["model"] = "digits";
            await SendAsync(socket, body.ToJsonString());
        }

        await SendAsync(socket, """{"id":"bad-model","model":"no-such-model","inputs":[]}""");
        await SendAsync(socket, """{"id":"bad-input","model":"digits","inputs":[{"name":"pixels","datatype":"FP32","shape":[1,64],"data":[1,2]}]}""");

        var answers = new Dictionary<string, JsonObject>();
        while (answers.Count < count + 2)
        {
            var answer = await ReceiveAsync(socket);
            Assert.NotNull(answer);
            answers.Add(answer["id"]!.GetValue<string>(), answer);
        }

        for (var i = 0; i < count; i += 37)
        {
            var probabilities = answers[$"r{i}"]["outputs"]![0]!["data"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray();
            Reference.AssertClose(Reference.Run("digits", "2", [Samples.Pixels(i % Samples.DigitCount)], "probabilities"), probabilities);
        }

        Assert.Equal("model_not_found", answers["bad-model"]["code"]!.GetValue<string>());
        Assert.Contains("needs 64", answers["bad-input"]["error"]!.GetValue<string>());
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task AMessageOverTheBound_ClosesTheConnection()
    {
        using var socket = await ConnectAsync(await fixture.NewUserKeyAsync($"ws-big-{Guid.NewGuid():N}"));
        await socket.SendAsync(new byte[(1 << 20) + 10], WebSocketMessageType.Text, true, CancellationToken.None);

        Assert.Null(await ReceiveAsync(socket));
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, socket.CloseStatus);
    }

    [Fact]
    public async Task InARealBrowser_ASignedInPage_PredictsOverTheWebSocket()
    {
        await using var context = await browser.Browser.NewContextAsync(new() { BaseURL = fixture.BaseAddress.ToString() });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/signin");
        await page.FillAsync("#key", TestKeys.Admin);
        await page.ClickAsync("#signin");
        await page.WaitForURLAsync("**/dashboard**", Pages.Committed);

        // The page's own WebSocket: the browser sends the session cookie with the upgrade; no header can be set.
        var pixels = string.Join(',', Samples.Pixels(7).Fp32!.Select(v => v.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var script = """
            pixels => new Promise((resolve, reject) => {
              const ws = new WebSocket(`ws://${location.host}/v2/ws`);
              const got = [];
              ws.onerror = () => reject(new Error("the WebSocket failed"));
              ws.onmessage = e => { got.push(e.data); if (got.length === 2) { ws.close(); resolve(got); } };
              ws.onopen = () => {
                for (const id of ["a", "b"]) {
                  ws.send(JSON.stringify({ id, model: "digits", inputs: [{ name: "pixels", datatype: "FP32", shape: [1, 64], data: JSON.parse("[" + pixels + "]") }], outputs: [{ name: "probabilities" }] }));
                }
              };
            })
            """;
        var answers = await page.EvaluateAsync<string[]>(script, pixels);

        Assert.True(answers.All(a => a.Contains("outputs")), string.Join("\n", answers));
        var expected = Reference.Run("digits", "2", [Samples.Pixels(7)], "probabilities");
        Assert.Equal(["a", "b"], answers.Select(a => JsonNode.Parse(a)!["id"]!.GetValue<string>()).Order());
        Assert.All(answers, a => Reference.AssertClose(expected, JsonNode.Parse(a)!["outputs"]![0]!["data"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray()));
    }
}
