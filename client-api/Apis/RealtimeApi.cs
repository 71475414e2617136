using System.Buffers;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text.Json;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Hosting;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Budgets;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// Real-time predictions over one WebSocket (<c>GET /v2/ws</c>): many KServe infer requests per connection, each a
/// text message <c>{"id", "model", "version"?, "inputs", "outputs"?}</c>, answered as they finish (in any order) with
/// the KServe response and the same <c>id</c>, or <c>{"id", "error", "code"}</c>. The key is checked at the upgrade
/// (a Bearer header, or a browser's signed-in session cookie from this site's own origin) and again every
/// <see cref="AuthOptions.SocketRecheckSeconds"/>: a revoked key closes the connection with 1008. A user holds at most
/// <see cref="MaxConnectionsPerUser"/> connections on one client-api (429 past that). At most <see cref="MaxInFlight"/>
/// requests run per connection: past that the server stops reading, so a fast sender is held back by TCP. A message is
/// at most <see cref="MaxMessageBytes"/>; a bigger one closes the connection (1009). Buffers are taken from a pool as
/// messages arrive, so an idle connection holds a few kilobytes. On shutdown the requests in flight are answered, then
/// the connection closes with 1001.
/// </summary>
internal static class RealtimeApi
{
    public const int MaxInFlight = 64;

    public const int MaxMessageBytes = 1024 * 1024;

    public const int MaxConnectionsPerUser = 16;

    /// <summary>What an idle connection holds for its next message; it grows, from the pool, only as a message needs.</summary>
    private const int FirstBufferBytes = 4096;

    public static IEndpointRouteBuilder MapRealtimeApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v2/ws", ConnectAsync).RequireAuthorization(ApiServiceExtensions.BrowserOrBearerPolicy).WithTags("KServe v2 WebSocket");
        return app;
    }

    private static async Task<IResult> ConnectAsync(
        HttpContext http, ClaimsPrincipal caller, ModelCatalog catalog, ClusterCalls calls, IHostApplicationLifetime lifetime,
        ApiKeyValidator validator, SocketConnections connections, Microsoft.Extensions.Options.IOptions<AuthOptions> auth)
    {
        if (!http.WebSockets.IsWebSocketRequest)
        {
            return KServeErrors.Invalid("this route is a WebSocket: send an upgrade request");
        }

        // A session cookie rides along with any page's request: only this site's own pages may use it for a socket.
        var bearer = http.Request.Headers.Authorization.ToString();
        if (bearer.Length == 0 && http.Request.Headers.Origin is [{ } origin] && !SameOrigin(origin, http.Request))
        {
            throw AiFleetException.Forbidden("a signed-in session may open a WebSocket only from this site's own pages");
        }

        var keyHash = bearer.Length > 7 ? ApiKeyValidator.HashOf(bearer[7..].Trim()) : caller.FindFirst(ApiKeyValidator.KeyHashClaim)?.Value;
        var user = caller.UserId();
        if (!connections.TryOpen(user, MaxConnectionsPerUser))
        {
            throw AiFleetException.OverBudget(BudgetLimitCodes.MaxParallel, $"this user already holds {MaxConnectionsPerUser} WebSocket connections; close one first", TimeSpan.FromSeconds(1));
        }

        try
        {
            using var socket = await http.WebSockets.AcceptWebSocketAsync();
            var stillValid = keyHash is null ? () => ValueTask.FromResult(false) : (Func<ValueTask<bool>>)(() => validator.IsActiveNowAsync(keyHash));
            var connection = new Connection(socket, user, caller.UserTier(), catalog, calls, stillValid, TimeSpan.FromSeconds(auth.Value.SocketRecheckSeconds));
            await connection.RunAsync(http.RequestAborted, lifetime.ApplicationStopping);
        }
        finally
        {
            connections.Close(user);
        }

        return TypedResults.Empty;
    }

    private static bool SameOrigin(string origin, HttpRequest request) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri)
        && string.Equals(uri.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase);

    private sealed class Connection(
        WebSocket socket, string user, string? tier, ModelCatalog catalog, ClusterCalls calls, Func<ValueTask<bool>> stillValid, TimeSpan recheckEvery)
    {
        private readonly SemaphoreSlim _slots = new(MaxInFlight, MaxInFlight);
        private readonly SemaphoreSlim _send = new(1, 1);
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(FirstBufferBytes);

        public async Task RunAsync(CancellationToken aborted, CancellationToken stopping)
        {
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(aborted, stopping);
            var watching = WatchKeyAsync(reading);
            try
            {
                while (socket.State == WebSocketState.Open)
                {
                    await _slots.WaitAsync(reading.Token); // back-pressure: no more reads while MaxInFlight run
                    int length;
                    WebSocketMessageType type;
                    try
                    {
                        (length, type) = await ReceiveAsync(reading.Token);
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

                    _ = AnswerAsync(_buffer.AsSpan(0, length).ToArray(), aborted);
                    if (_buffer.Length > FirstBufferBytes)
                    {
                        // A big message came and went: what stays with the idle connection is small again.
                        ArrayPool<byte>.Shared.Return(_buffer);
                        _buffer = ArrayPool<byte>.Shared.Rent(FirstBufferBytes);
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // The client went away, the server is stopping or the key was revoked: answer what runs, then close.
            }
            catch (WebSocketException)
            {
                return; // the connection broke
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = [];
                await reading.CancelAsync();
                await watching;
            }

            for (var i = 0; i < MaxInFlight; i++)
            {
                await _slots.WaitAsync(CancellationToken.None); // every request in flight answered
            }

            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                var (status, reason) = stopping.IsCancellationRequested ? (WebSocketCloseStatus.EndpointUnavailable, "the server is stopping")
                    : (WebSocketCloseStatus.NormalClosure, "");
                await socket.CloseAsync(status, reason, CancellationToken.None)
                    .WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        }

        /// <summary>Asks whether the key is still active every <c>recheckEvery</c>; a revoked key stops the reading.</summary>
        private async Task WatchKeyAsync(CancellationTokenSource reading)
        {
            using var timer = new PeriodicTimer(recheckEvery);
            try
            {
                while (await timer.WaitForNextTickAsync(reading.Token))
                {
                    bool valid;
                    try
                    {
                        valid = await stillValid();
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        continue; // the cluster could not say: asked again next tick, the connection goes on meanwhile
                    }

                    if (!valid)
                    {
                        // Closed from here, not by cancelling the pending read (that would abort the connection with
                        // no close frame): the client answers the close, the read loop sees it and ends.
                        await _send.WaitAsync(reading.Token);
                        try
                        {
                            await socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, "the key was revoked", reading.Token);
                        }
                        finally
                        {
                            _send.Release();
                        }

                        await Task.Delay(TimeSpan.FromSeconds(5), reading.Token);
                        await reading.CancelAsync(); // a client that never answered the close is cut off
                        return;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // The connection ended first.
            }
        }

        /// <summary>One whole message into <see cref="_buffer"/>, grown from the pool as it needs; length -1 past the bound.</summary>
        private async Task<(int Length, WebSocketMessageType Type)> ReceiveAsync(CancellationToken cancellationToken)
        {
            var length = 0;
            while (true)
            {
                var room = Math.Min(_buffer.Length, MaxMessageBytes) - length;
                if (room == 0)
                {
                    if (length >= MaxMessageBytes)
                    {
                        return (-1, WebSocketMessageType.Text);
                    }

                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(_buffer.Length * 2, MaxMessageBytes));
                    _buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(_buffer);
                    _buffer = bigger;
                    continue;
                }

                var part = await socket.ReceiveAsync(_buffer.AsMemory(length, room), cancellationToken);
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
