using System.Buffers;
using System.Net.WebSockets;
using System.Security.Claims;
using System.Text.Json;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Inference;
using static Orleans.AiFleet.ClientApi.Apis.RealtimeApi;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// One open WebSocket of <see cref="RealtimeApi"/>: reads messages into a pooled buffer (at most
/// <see cref="RealtimeApi.MaxInFlight"/> running), answers each as it finishes, re-checks its key every
/// <c>recheckEvery</c> and closes with 1008 once the key is revoked.
/// </summary>
internal sealed class RealtimeConnection(
    WebSocket socket, ClaimsPrincipal caller, ModelCatalog catalog, ClusterCalls calls, Func<ValueTask<bool>> stillValid, TimeSpan recheckEvery)
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

            caller.CheckMayUse(model);
            (_, version) = await catalog.ResolveAsync(model, version);
            if (!KServeJson.TryReadInferRequest(new ReadOnlySequence<byte>(message), model, version, out var request, out var error))
            {
                throw AiFleetException.Invalid(error);
            }

            request = request with { User = caller.UserId(), UserTier = caller.UserTier(), Team = caller.ChargedTeam() };
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

                w.WriteString("error", failure is null ? "the server failed to handle this request (a defect)" : FailureRenderer.MessageOf(failure));
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
