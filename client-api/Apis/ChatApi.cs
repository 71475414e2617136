using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Budgets;
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
        app.MapPost("/v1/chat/completions", CompleteAsync).WithTags("OpenAI").SpeaksErrors(ErrorProtocol.OpenAi).LimitBody(BodyLimit.OpenAi);
        return app;
    }

    private static async Task<IResult> CompleteAsync(
        ChatBody body, HttpContext http, ClaimsPrincipal caller, ModelCatalog catalog, ClusterCalls calls, IGrainFactory grains, ILoggerFactory loggers, TimeProvider time)
    {
        if (ChatBodyParser.Parse(body, http.Request.Headers, out var parsed) is { } invalid)
        {
            return invalid;
        }

        var request = parsed!;
        if (request.Model != ChatRequest.Auto && await catalog.FindAsync(request.Model) is null)
        {
            return OpenAiErrors.ModelNotFound(request.Model);
        }

        var logger = loggers.CreateLogger(typeof(ChatApi));
        var id = $"chatcmpl-{Guid.NewGuid():N}";
        // The completion id names the request on every send, so a re-send after a gateway drop cannot hold or charge twice.
        var chat = new ChatRequest(caller.UserId(), request.Model, request.Prompt, request.MaxTokens, request.Temperature, request.Seed, request.Policy, caller.UserTier(), RequestId: id);
        var created = time.GetUtcNow().ToUnixTimeSeconds();
        if (!request.Stream)
        {
            // The whole chat runs in the router, fallbacks and hedging included.
            ChatCompletion answer;
            try
            {
                answer = await calls.RunAsync(_ => catalog.Router.CompleteChatAsync(chat, http.RequestAborted));
            }
            catch (Exception e)
            {
                return OpenAiErrors.FromException(e, logger);
            }

            SetRouteHeaders(http, answer.Model, answer.Version, answer.ReasonKind, answer.Reason);
            http.Response.Headers["x-aifleet-cache"] = answer.Cached ? "hit" : request.Temperature == 0 ? "miss" : "bypass";
            http.Response.Headers["x-aifleet-cost"] = answer.Cost.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Ok(new
            {
                id,
                @object = "chat.completion",
                created,
                model = answer.Model,
                choices = new[] { new { index = 0, message = new { role = "assistant", content = answer.Text }, finish_reason = answer.FinishReason } },
                usage = new { prompt_tokens = answer.PromptTokens, completion_tokens = answer.CompletionTokens, total_tokens = answer.PromptTokens + answer.CompletionTokens },
            });
        }

        ChatLease lease;
        try
        {
            lease = await calls.RunAsync(_ => catalog.Router.BeginChatAsync(chat));
        }
        catch (Exception e)
        {
            return OpenAiErrors.FromException(e, logger);
        }

        if (lease.Cached is { } cached)
        {
            return await ServeCachedAsync(http, id, created, lease, cached);
        }

        http.Response.Headers["x-aifleet-cache"] = lease.CacheKey is null ? "bypass" : "miss";
        var text = new StringBuilder();
        GenerationChunk? last = null;
        var outcome = "failed";
        var started = false;
        while (true)
        {
            var replica = grains.GetGrain<IModelReplicaGrain>(lease.Replica);
            await using var renewal = HoldRenewal.Start(grains.GetGrain<IUserBudgetGrain>(chat.User), lease.Reservation); // held while it streams
            var generation = new GenerationRequest(request.Prompt, request.MaxTokens, request.Temperature, request.Seed);
            using var firstToken = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
            if (lease.TimeoutMs > 0)
            {
                firstToken.CancelAfter(lease.TimeoutMs); // until the first token: past it, the next model is tried
            }

            try
            {
                await foreach (var chunk in replica.GenerateAsync(generation, firstToken.Token).WithCancellation(firstToken.Token))
                {
                    last = chunk;
                    text.Append(chunk.Text);
                    if (!started)
                    {
                        started = true;
                        firstToken.CancelAfter(Timeout.InfiniteTimeSpan);
                        http.Response.ContentType = "text/event-stream";
                        http.Response.Headers.CacheControl = "no-cache";
                        SetRouteHeaders(http, lease.Model, lease.Version, lease.ReasonKind, lease.Reason);
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

                outcome = "ok";
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
            {
                outcome = "disconnected";
            }
            catch (Exception e) when (!started && lease.Fallbacks is { Count: > 0 } && FallsBack(e))
            {
                // Nothing sent yet: the router settles this model at nothing used and admits the next of the chain.
                var error = e is OperationCanceledException ? $"no first token within {lease.TimeoutMs} ms" : $"{e.GetType().Name}: {e.Message}";
                try
                {
                    var failed = lease;
                    lease = await calls.RunAsync(_ => catalog.Router.FallbackChatAsync(chat, failed, error));
                }
                catch (Exception fallback)
                {
                    return OpenAiErrors.FromException(fallback, logger);
                }

                (last, text) = (null, new StringBuilder());
                http.Response.Headers["x-aifleet-cache"] = lease.CacheKey is null ? "bypass" : "miss";
                continue;
            }
            catch (Exception e) when (!started)
            {
                await SettleAsync(calls, catalog, lease, last, outcome, null, logger);
                return OpenAiErrors.FromException(e is OperationCanceledException ? AiFleetException.Timeout($"model '{lease.Model}' gave no first token within {lease.TimeoutMs} ms") : e, logger);
            }
            catch (Exception e)
            {
                // Mid-stream: the status line is gone; end the stream with an error event.
                await SendAsync(http, new { error = new { message = e.Message, type = "server_error", code = "stream_failed" } });
            }

            break;
        }

        if (outcome != "failed" || started)
        {
            await SettleAsync(calls, catalog, lease, last, outcome, text.ToString(), logger);
        }

        if (outcome == "ok")
        {
            var usage = new { prompt_tokens = last?.PromptTokens ?? 0, completion_tokens = last?.CompletionTokens ?? 0, total_tokens = (last?.PromptTokens ?? 0) + (last?.CompletionTokens ?? 0) };
            await SendAsync(http, new { id, @object = "chat.completion.chunk", created, model = lease.Model, choices = Array.Empty<object>(), usage });
            await http.Response.WriteAsync("data: [DONE]\n\n");
        }

        return TypedResults.Empty;
    }

    /// <summary>
    /// The failures after which the next model of an <c>auto</c> chain is tried: the model's, not the request's, and
    /// no first token within the model's timeout.
    /// </summary>
    private static bool FallsBack(Exception e) => InferenceFaults.IsModelFault(e) || e is OperationCanceledException;

    /// <summary>Which model answered and why: <c>x-aifleet-model</c>, <c>x-aifleet-route</c> and <c>x-aifleet-route-reason</c>.</summary>
    private static void SetRouteHeaders(HttpContext http, string model, string version, string kind, string reason)
    {
        http.Response.Headers["x-aifleet-model"] = $"{model}/{version}";
        http.Response.Headers["x-aifleet-route"] = kind;
        var printable = new string(reason.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray());
        http.Response.Headers["x-aifleet-route-reason"] = printable.Length > 400 ? printable[..400] : printable;
    }

    /// <summary>A deterministic chat answered before: no replica, no charge, the same text (streamed as one piece).</summary>
    private static async Task<IResult> ServeCachedAsync(HttpContext http, string id, long created, ChatLease lease, CachedChat cached)
    {
        http.Response.Headers["x-aifleet-cache"] = "hit";
        SetRouteHeaders(http, lease.Model, lease.Version, lease.ReasonKind, lease.Reason);
        var usage = new { prompt_tokens = cached.PromptTokens, completion_tokens = cached.CompletionTokens, total_tokens = cached.PromptTokens + cached.CompletionTokens };
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
}
