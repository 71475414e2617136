using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// <c>POST /v1/chat/completions</c>, OpenAI-compatible, non-streaming or <c>stream: true</c> (server-sent events, the
/// usage in a final chunk). The router admits the chat and holds its worst case on the user's budget; the text is
/// streamed from the chosen replica as it is decoded; whatever happens (finished, failed, the client gone
/// mid-stream) the tokens really used are settled. The prompt is the last user message: the shipped model continues
/// text, it does not follow a chat template.
/// </summary>
internal static class ChatApi
{
    public const int DefaultMaxTokens = 128;

    public static IEndpointRouteBuilder MapChatApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/chat/completions", CompleteAsync).WithTags("OpenAI");
        return app;
    }

    private sealed record Parsed(string Model, string Prompt, int MaxTokens, double Temperature, int? Seed, bool Stream);

    private static async Task<IResult> CompleteAsync(
        HttpContext http, ClaimsPrincipal caller, ModelCatalog catalog, ClusterCalls calls, IGrainFactory grains, ILoggerFactory loggers, TimeProvider time)
    {
        Parsed request;
        try
        {
            using var body = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            if (Parse(body.RootElement, out var parsed) is { } invalid)
            {
                return invalid;
            }

            request = parsed!;
        }
        catch (JsonException e)
        {
            return OpenAiErrors.Invalid($"the request body is not valid JSON: {e.Message}");
        }

        if (await catalog.FindAsync(request.Model) is null)
        {
            return OpenAiErrors.Error(StatusCodes.Status404NotFound, "invalid_request_error", "model_not_found", $"model '{request.Model}' does not exist", "model");
        }

        var logger = loggers.CreateLogger(typeof(ChatApi));
        ChatLease lease;
        try
        {
            lease = await calls.RunAsync(_ => catalog.Router.BeginChatAsync(
                new ChatRequest(caller.UserId(), request.Model, request.Prompt, request.MaxTokens, request.Temperature, request.Seed)));
        }
        catch (Exception e)
        {
            return OpenAiErrors.FromException(e, http, logger);
        }

        var id = $"chatcmpl-{Guid.NewGuid():N}";
        var created = time.GetUtcNow().ToUnixTimeSeconds();
        if (lease.Cached is { } cached)
        {
            return await ServeCachedAsync(http, request.Stream, id, created, lease, cached);
        }

        http.Response.Headers["x-aifleet-cache"] = lease.CacheKey is null ? "bypass" : "miss";
        var replica = grains.GetGrain<IModelReplicaGrain>(lease.Replica);
        var generation = new GenerationRequest(request.Prompt, request.MaxTokens, request.Temperature, request.Seed);
        var text = new StringBuilder();
        GenerationChunk? last = null;
        var outcome = "failed";
        var started = false;
        try
        {
            await foreach (var chunk in replica.GenerateAsync(generation, http.RequestAborted).WithCancellation(http.RequestAborted))
            {
                last = chunk;
                text.Append(chunk.Text);
                if (request.Stream)
                {
                    if (!started)
                    {
                        started = true;
                        http.Response.ContentType = "text/event-stream";
                        http.Response.Headers.CacheControl = "no-cache";
                        http.Response.Headers["x-aifleet-model"] = $"{lease.Model}/{lease.Version}";
                        await SendAsync(http, Chunk(id, created, lease.Model, new { role = "assistant", content = "" }, null));
                    }

                    if (chunk.FinishReason is { } reason)
                    {
                        await SendAsync(http, Chunk(id, created, lease.Model, new { }, reason));
                    }
                    else
                    {
                        await SendAsync(http, Chunk(id, created, lease.Model, new { content = chunk.Text }, null));
                    }
                }
            }

            outcome = "ok";
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            outcome = "disconnected";
        }
        catch (Exception e) when (!started)
        {
            await SettleAsync(calls, catalog, lease, last, outcome, null, logger);
            return OpenAiErrors.FromException(e, http, logger);
        }
        catch (Exception e)
        {
            // Mid-stream: the status line is gone; end the stream with an error event.
            await SendAsync(http, new { error = new { message = e.Message, type = "server_error", code = "stream_failed" } });
        }
        finally
        {
            if (outcome != "failed" || started)
            {
                await SettleAsync(calls, catalog, lease, last, outcome, text.ToString(), logger);
            }
        }

        var usage = new { prompt_tokens = last?.PromptTokens ?? 0, completion_tokens = last?.CompletionTokens ?? 0, total_tokens = (last?.PromptTokens ?? 0) + (last?.CompletionTokens ?? 0) };
        if (request.Stream)
        {
            if (outcome == "ok")
            {
                await SendAsync(http, new { id, @object = "chat.completion.chunk", created, model = lease.Model, choices = Array.Empty<object>(), usage });
                await http.Response.WriteAsync("data: [DONE]\n\n");
            }

            return TypedResults.Empty;
        }

        http.Response.Headers["x-aifleet-model"] = $"{lease.Model}/{lease.Version}";
        return TypedResults.Ok(new
        {
            id,
            @object = "chat.completion",
            created,
            model = lease.Model,
            choices = new[] { new { index = 0, message = new { role = "assistant", content = text.ToString() }, finish_reason = last?.FinishReason ?? "length" } },
            usage,
        });
    }

    /// <summary>A deterministic chat answered before: no replica, no charge, the same text (streamed as one piece).</summary>
    private static async Task<IResult> ServeCachedAsync(HttpContext http, bool stream, string id, long created, ChatLease lease, CachedChat cached)
    {
        http.Response.Headers["x-aifleet-cache"] = "hit";
        http.Response.Headers["x-aifleet-model"] = $"{lease.Model}/{lease.Version}";
        var usage = new { prompt_tokens = cached.PromptTokens, completion_tokens = cached.CompletionTokens, total_tokens = cached.PromptTokens + cached.CompletionTokens };
        if (!stream)
        {
            return TypedResults.Ok(new
            {
                id,
                @object = "chat.completion",
                created,
                model = lease.Model,
                choices = new[] { new { index = 0, message = new { role = "assistant", content = cached.Text }, finish_reason = cached.FinishReason } },
                usage,
            });
        }

        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        await SendAsync(http, Chunk(id, created, lease.Model, new { role = "assistant", content = "" }, null));
        await SendAsync(http, Chunk(id, created, lease.Model, new { content = cached.Text }, null));
        await SendAsync(http, Chunk(id, created, lease.Model, new { }, cached.FinishReason));
        await SendAsync(http, new { id, @object = "chat.completion.chunk", created, model = lease.Model, choices = Array.Empty<object>(), usage });
        await http.Response.WriteAsync("data: [DONE]\n\n");
        return TypedResults.Empty;
    }

    private static async Task SettleAsync(ClusterCalls calls, ModelCatalog catalog, ChatLease lease, GenerationChunk? last, string outcome, string? text, ILogger logger)
    {
        try
        {
            await calls.RunAsync(_ => catalog.Router.EndChatAsync(lease, last?.PromptTokens ?? 0, last?.CompletionTokens ?? 0, outcome, text, last?.FinishReason));
        }
        catch (Exception e)
        {
            // The reservation expires on its own; the user is never charged more than it held.
            logger.LogWarning(e, "Could not settle chat reservation {Reservation}", lease.Reservation);
        }
    }

    private static object Chunk(string id, long created, string model, object delta, string? finish) =>
        new { id, @object = "chat.completion.chunk", created, model, choices = new[] { new { index = 0, delta, finish_reason = finish } } };

    private static async Task SendAsync(HttpContext http, object value)
    {
        await http.Response.WriteAsync("data: " + JsonSerializer.Serialize(value) + "\n\n");
        await http.Response.Body.FlushAsync();
    }

    private static IResult? Parse(JsonElement root, out Parsed? parsed)
    {
        parsed = null;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return OpenAiErrors.Invalid("the request body must be a JSON object");
        }

        if (!root.TryGetProperty("model", out var m) || m.ValueKind != JsonValueKind.String || m.GetString() is not { Length: > 0 } model)
        {
            return OpenAiErrors.Invalid("'model' is required and must be a string", "model");
        }

        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
        {
            return OpenAiErrors.Invalid("'messages' is required and must be a non-empty array", "messages");
        }

        string? prompt = null;
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object || !message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
            {
                return OpenAiErrors.Invalid("each message needs a 'role'", "messages");
            }

            if (role.GetString() is not ("system" or "developer" or "user" or "assistant" or "tool"))
            {
                return OpenAiErrors.Invalid($"unknown message role '{role.GetString()}'", "messages");
            }

            if (role.GetString() == "user" && message.TryGetProperty("content", out var content))
            {
                prompt = content.ValueKind switch
                {
                    JsonValueKind.String => content.GetString(),
                    JsonValueKind.Array => string.Concat(content.EnumerateArray()
                        .Where(p => p.TryGetProperty("type", out var t) && t.GetString() == "text" && p.TryGetProperty("text", out _))
                        .Select(p => p.GetProperty("text").GetString())),
                    _ => null,
                };
            }
        }

        if (string.IsNullOrEmpty(prompt))
        {
            return OpenAiErrors.Invalid("'messages' must hold a user message with text content", "messages");
        }

        var maxTokens = DefaultMaxTokens;
        foreach (var name in new[] { "max_completion_tokens", "max_tokens" })
        {
            if (root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null)
            {
                if (!value.TryGetInt32(out maxTokens) || maxTokens < 1)
                {
                    return OpenAiErrors.Invalid($"'{name}' must be a positive integer", name);
                }

                break;
            }
        }

        var temperature = 1.0;
        if (root.TryGetProperty("temperature", out var temp) && temp.ValueKind != JsonValueKind.Null
            && (!temp.TryGetDouble(out temperature) || temperature is < 0 or > 2))
        {
            return OpenAiErrors.Invalid("'temperature' must be a number from 0 to 2", "temperature");
        }

        int? seed = null;
        if (root.TryGetProperty("seed", out var s) && s.ValueKind != JsonValueKind.Null)
        {
            if (!s.TryGetInt32(out var seedValue))
            {
                return OpenAiErrors.Invalid("'seed' must be an integer", "seed");
            }

            seed = seedValue;
        }

        if (root.TryGetProperty("n", out var n) && n.ValueKind != JsonValueKind.Null && (!n.TryGetInt32(out var count) || count != 1))
        {
            return OpenAiErrors.Invalid("only 'n': 1 is supported", "n");
        }

        if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() > 0)
        {
            return OpenAiErrors.Invalid("tools are not supported by the self-hosted models", "tools");
        }

        var stream = root.TryGetProperty("stream", out var st) && st.ValueKind == JsonValueKind.True;
        parsed = new Parsed(model, prompt, maxTokens, temperature, seed, stream);
        return null;
    }
}
