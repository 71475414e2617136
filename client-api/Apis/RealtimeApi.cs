using System.Buffers;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text.Json;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Hosting;
using Orleans.AiFleet.ClientApi.Inference;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// Real-time predictions over one WebSocket (<c>GET /v2/ws</c>): many KServe infer requests per connection, each a
/// text message <c>{"id", "model", "version"?, "inputs", "outputs"?}</c>, answered as they finish (in any order) with
/// the KServe response and the same <c>id</c>, or <c>{"id", "error", "code"}</c>. The key is checked at the upgrade
/// (a Bearer header, or a browser's signed-in session cookie). At most <see cref="MaxInFlight"/> requests run per
/// connection: past that the server stops reading, so a fast sender is held back by TCP. A message is at most
/// <see cref="MaxMessageBytes"/>; a bigger one closes the connection (1009). On shutdown the requests in flight are
/// answered, then the connection closes with 1001.
/// </summary>
internal static class RealtimeApi
{
    public const int MaxInFlight = 64;

    public const int MaxMessageBytes = 1024 * 1024;

    public static IEndpointRouteBuilder MapRealtimeApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v2/ws", ConnectAsync).RequireAuthorization(ApiServiceExtensions.BrowserOrBearerPolicy).WithTags("KServe v2 WebSocket");
        return app;
    }

    private static async Task<IResult> ConnectAsync(HttpContext http, ClaimsPrincipal caller, ModelCatalog catalog, ClusterCalls calls, IHostApplicationLifetime lifetime)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            return KServeErrors.Invalid("this route is a WebSocket: send an upgrade request");
        }

        using var socket = await http.WebSockets.AcceptWebSocketAsync();
        var connection = new Connection(socket, caller.UserId(), caller.UserTier(), catalog, calls);
        await connection.RunAsync(http.RequestAborted, lifetime.ApplicationStopping);
        return TypedResults.Empty;
    }

    private sealed class Connection(WebSocket socket, string user, string? tier, ModelCatalog catalog, ClusterCalls calls)
    {
        private readonly SemaphoreSlim _slots = new(MaxInFlight, MaxInFlight);
        private readonly SemaphoreSlim _send = new(1, 1);

        public async Task RunAsync(CancellationToken aborted, CancellationToken stopping)
        {
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(aborted, stopping);
            var buffer = new byte[MaxMessageBytes];
            try
            {
                while (socket.State == WebSocketState.Open)
                {
                    await _slots.WaitAsync(reading.Token); // back-pressure: no more reads while MaxInFlight run
                    int length;
                    WebSocketMessageType type;
                    try
                    {
                        (length, type) = await ReceiveAsync(buffer, reading.Token);
                    }
                    catch
                    {
                        _slots.Release();
                        throw;
                    }

                    if (type == WebSocketMessageType.Close)
                    {
                        _slots.Release();
                        break;
                    }

                    if (length < 0)
                    {
                        _slots.Release();
                        await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, $"a message is at most {MaxMessageBytes} bytes", aborted);
                        return;
                    }

                    _ = AnswerAsync(buffer.AsSpan(0, length).ToArray(), aborted);
                }
            }
            catch (OperationCanceledException)
            {
                // The client went away, or the server is stopping: answer what runs, then close.
            }
            catch (WebSocketException)
            {
                return; // the connection broke
            }

            for (var i = 0; i < MaxInFlight; i++)
            {
                await _slots.WaitAsync(CancellationToken.None); // every request in flight answered
            }

            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                var status = stopping.IsCancellationRequested ? WebSocketCloseStatus.EndpointUnavailable : WebSocketCloseStatus.NormalClosure;
                await socket.CloseAsync(status, stopping.IsCancellationRequested ? "the server is stopping" : "", CancellationToken.None)
                    .WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        }

        /// <summary>One whole message; length -1 when it is bigger than the buffer.</summary>
        private async Task<(int Length, WebSocketMessageType Type)> ReceiveAsync(byte[] buffer, CancellationToken cancellationToken)
        {
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    return (-1, WebSocketMessageType.Text);
                }

                var part = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken);
                if (part.MessageType == WebSocketMessageType.Close)
                {
                    return (0, WebSocketMessageType.Close);
                }

                length += part.Count;
                if (part.EndOfMessage)
                {
                    return (length, part.MessageType);
                }
            }
        }

        private async Task AnswerAsync(byte[] message, CancellationToken aborted)
        {
            string? id = null;
            try
            {
                (id, var model, var version) = Envelope(message);
                if (model is null)
                {
                    throw AiFleetException.Invalid("each message needs a 'model' (and may name a 'version')", "model");
                }

                (_, version) = await catalog.ResolveAsync(model, version);
                if (!KServeJson.TryReadInferRequest(new ReadOnlySequence<byte>(message), model, version, out var request, out var error))
                {
                    throw AiFleetException.Invalid(error);
                }

                request = request with { User = user, UserTier = tier };
                var response = await calls.RunAsync(token => catalog.Router.InferAsync(request, token), aborted);
                await SendAsync(w => KServeJsonWriter.WriteInferResponse(w, response with { Id = id }), aborted);
            }
            catch (Exception e) when (!aborted.IsCancellationRequested)
            {
                var failure = e is JsonException ? AiFleetException.Invalid($"a message must be a JSON object: {e.Message}") : FailureClassifier.Classify(e);
                await SendAsync(w =>
                {
                    w.WriteStartObject();
                    if (id is not null)
                    {
                        w.WriteString("id", id);
                    }

                    w.WriteString("error", failure?.Message ?? "the server failed to handle this request (a defect)");
                    w.WriteString("code", failure?.Code ?? FailureCodes.Internal);
                    w.WriteEndObject();
                }, aborted);
            }
            catch (Exception)
            {
                // The client is gone: nobody to answer.
            }
            finally
            {
                _slots.Release();
            }
        }

        private static (string? Id, string? Model, string? Version) Envelope(byte[] message)
        {
            var reader = new Utf8JsonReader(message);
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw AiFleetException.Invalid("a message must be a JSON object with 'id', 'model' and 'inputs'");
            }

            string? id = null, model = null, version = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                var text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
                switch (name)
                {
                    case "id": id = text; break;
                    case "model": model = text; break;
                    case "version": version = text; break;
                }
            }

            return InputBounds.IsClientId(id) ? (id, model, version) : throw AiFleetException.Invalid(InputBounds.ClientIdRule, "id");
        }

        private async Task SendAsync(Action<Utf8JsonWriter> write, CancellationToken cancellationToken)
        {
            var buffer = new ArrayBufferWriter<byte>(4096);
            using (var w = new Utf8JsonWriter(buffer))
            {
                write(w);
            }

            await _send.WaitAsync(cancellationToken);
            try
            {
                await socket.SendAsync(buffer.WrittenMemory, WebSocketMessageType.Text, endOfMessage: true, cancellationToken);
            }
            finally
            {
                _send.Release();
            }
        }
    }
}
