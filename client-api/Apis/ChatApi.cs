using Orleans.AiFleet.ClientApi.Cluster;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text.Json;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// <c>POST /v1/chat/completions</c>, OpenAI-compatible, non-streaming or <c>stream: true</c> (server-sent events, the
/// usage in a final chunk). One call into the cluster either way: the router runs the chat (plan, cache, hold,
/// replica, fallback, settle) and client-api only writes what it returns. The prompt is the last user message: the
/// shipped model continues text, it does not follow a chat template.
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

        if (request.Model == ChatRequest.Auto && !caller.MayUse(ChatRequest.Auto))
        {
            throw AiFleetException.ModelNotAllowed("this key is scoped to a list of models: name one of them rather than 'auto'");
        }

        caller.CheckMayUse(request.Model);
        var logger = loggers.CreateLogger(typeof(ChatApi));
        var id = $"chatcmpl-{Guid.NewGuid():N}";
        // The completion id names the request on every send, so a re-send after a gateway drop cannot hold or charge twice.
        var chat = new ChatRequest(caller.UserId(), request.Model, request.Prompt, request.MaxTokens, request.Temperature, request.Seed, request.Policy, caller.UserTier(), RequestId: id, Team: caller.ChargedTeam());
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

        return await StreamAsync(http, grains.GetGrain<IChatStreamGrain>(id).StreamAsync(chat, http.RequestAborted), id, created, logger);
    }

    /// <summary>
    /// The router's chat stream as server-sent events (<c>TypedResults.ServerSentEvents</c>, OpenAI's framing: one
    /// <c>data:</c> line per chunk, then <c>data: [DONE]</c>). A failure before the first event is an ordinary error
    /// response (the status line is not sent yet); one mid-stream ends the stream with an error event.
    /// </summary>
    private static async Task<IResult> StreamAsync(HttpContext http, IAsyncEnumerable<ChatEvent> stream, string id, long created, ILogger logger)
    {
        var aborted = http.RequestAborted;
        var events = stream.GetAsyncEnumerator(aborted);
        ChatEvent start;
        try
        {
            if (!await events.MoveNextAsync())
            {
                await events.DisposeAsync();
                return OpenAiErrors.FromException(AiFleetException.ModelUnavailable("the chat ended before it started"), logger);
            }

            start = events.Current;
        }
        catch (Exception e)
        {
            await events.DisposeAsync();
            return aborted.IsCancellationRequested && e is OperationCanceledException ? TypedResults.Empty : OpenAiErrors.FromException(e, logger);
        }

        SetRouteHeaders(http, start.Model, start.Version, start.RouteKind, start.Reason);
        http.Response.Headers["x-aifleet-cache"] = start.Cache;
        return TypedResults.ServerSentEvents(Chunks(events, start, id, created, aborted));
    }

    /// <summary>The OpenAI chunks of a chat whose first event was <paramref name="start"/>; owns and disposes <paramref name="events"/>.</summary>
    private static async IAsyncEnumerable<string> Chunks(
        IAsyncEnumerator<ChatEvent> events, ChatEvent start, string id, long created, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            yield return Json(Chunk(id, created, start.Model, new { role = "assistant", content = "" }, null));
            if (start.Text.Length > 0)
            {
                yield return Json(Chunk(id, created, start.Model, new { content = start.Text }, null));
            }

            while (true)
            {
                ChatEvent? e;
                string? failure = null;
                try
                {
                    e = await events.MoveNextAsync() ? events.Current : null;
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    // Mid-stream: the status line is gone; end the stream with an error event.
                    (e, failure) = (null, Json(new { error = new { message = ex.Message, type = "server_error", code = "stream_failed" } }));
                }

                if (e is null)
                {
                    if (failure is not null)
                    {
                        yield return failure;
                    }

                    yield break;
                }

                if (e.Kind == ChatEvent.Delta)
                {
                    yield return Json(Chunk(id, created, start.Model, new { content = e.Text }, null));
                    continue;
                }

                yield return Json(Chunk(id, created, start.Model, new { }, e.FinishReason));
                var usage = new { prompt_tokens = e.PromptTokens, completion_tokens = e.CompletionTokens, total_tokens = e.PromptTokens + e.CompletionTokens };
                yield return Json(e.Stopped is null
                    ? new { id, @object = "chat.completion.chunk", created, model = start.Model, choices = Array.Empty<object>(), usage }
                    : (object)new { id, @object = "chat.completion.chunk", created, model = start.Model, choices = Array.Empty<object>(), usage, stopped = e.Stopped });
                yield return "[DONE]";
            }
        }
        finally
        {
            await events.DisposeAsync(); // a client that went away: this cancels the decoding, and the router settles what was sent
        }
    }

    /// <summary>Which model answered and why: <c>x-aifleet-model</c>, <c>x-aifleet-route</c> and <c>x-aifleet-route-reason</c>.</summary>
    private static void SetRouteHeaders(HttpContext http, string model, string version, string kind, string reason)
    {
        http.Response.Headers["x-aifleet-model"] = $"{model}/{version}";
        http.Response.Headers["x-aifleet-route"] = kind;
        var printable = new string(reason.Select(c => c is >= ' ' and <= '~' ? c : '?').ToArray());
        http.Response.Headers["x-aifleet-route-reason"] = printable.Length > 400 ? printable[..400] : printable;
    }

    private static object Chunk(string id, long created, string model, object delta, string? finish) =>
        new { id, @object = "chat.completion.chunk", created, model, choices = new[] { new { index = 0, delta, finish_reason = finish } } };

    private static string Json(object value) => JsonSerializer.Serialize(value);
}
