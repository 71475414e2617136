using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// Calls a remote OpenAI-compatible provider's <c>/chat/completions</c>, always streaming (server-sent events, usage
/// in the last chunk when the provider gives it), and turns its answers into this project's failures: 429 →
/// an overloaded <see cref="AiFleetException"/> with the provider's Retry-After; 5xx, a refused key, an unknown model or
/// a broken connection → a model-unavailable <see cref="AiFleetException"/> (a replica fault: it opens the circuit and lets the
/// router fall back); 400 → an invalid-argument <see cref="AiFleetException"/>. Tokens are counted with the model's
/// tiktoken encoding as text arrives, and replaced by the provider's own usage when it reports it.
/// One per silo, sharing one connection pool.
/// </summary>
internal sealed class RemoteChatClient(TokenizerCache tokenizers, InferenceMetrics metrics) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        MaxConnectionsPerServer = 256,
        ConnectTimeout = TimeSpan.FromSeconds(5),

        // A stream left before its end (the caller hung up, or its hold ran out) closes its connection. By default the
        // handler would drain the rest of the response to reuse the connection, and the provider would go on
        // generating, and billing, an answer no one reads.
        MaxResponseDrainSize = 0,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan, // the router bounds the wait for the first token; after it, only the caller stops a call
    };

    public void Dispose() => _http.Dispose();

    public async IAsyncEnumerable<GenerationChunk> StreamAsync(
        RepositoryModel model, GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var remote = model.Config.Remote!;
        var promptTokens = tokenizers.PromptTokens(model, request.Prompt);
        var started = Stopwatch.GetTimestamp();
        using var response = await SendAsync(model, remote, request, cancellationToken);
        using var body = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken), Encoding.UTF8);
        var completionTokens = 0;
        string? finish = null;
        var outcome = "failed";
        try
        {
            while (true)
            {
                string? line;
                try
                {
                    line = await body.ReadLineAsync(cancellationToken);
                }
                catch (Exception e) when (e is IOException or HttpRequestException)
                {
                    throw AiFleetException.ModelUnavailable($"provider '{remote.Provider}' dropped the stream of model '{model.Name}': {e.Message}");
                }

                if (line is null)
                {
                    break;
                }

                if (!line.StartsWith("data:", StringComparison.Ordinal))
                {
                    continue; // comments, event names and the blank lines between events
                }

                var data = line.AsSpan(5).Trim();
                if (data.SequenceEqual("[DONE]"))
                {
                    break;
                }

                var (text, reason, usage) = Parse(model, data.ToString());
                if (usage is { } u)
                {
                    (promptTokens, completionTokens) = u;
                }

                finish = reason ?? finish;
                if (!string.IsNullOrEmpty(text))
                {
                    completionTokens += tokenizers.CompletionTokens(remote, text);
                    yield return new GenerationChunk(text, promptTokens, completionTokens, null);
                }
            }

            outcome = "ok";
        }
        finally
        {
            metrics.RemoteCall(model.Name, cancellationToken.IsCancellationRequested ? "cancelled" : outcome, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        yield return new GenerationChunk("", promptTokens, completionTokens, finish switch { null => "stop", "stop" or "length" => finish, _ => "stop" });
    }

    private async Task<HttpResponseMessage> SendAsync(RepositoryModel model, RemoteConfig remote, GenerationRequest request, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["model"] = remote.Model,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = request.Prompt }),
            ["max_tokens"] = Math.Min(request.MaxTokens, remote.MaxOutputTokens),
            ["temperature"] = request.Temperature,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        if (request.Seed is { } seed)
        {
            body["seed"] = seed;
        }

        using var message = new HttpRequestMessage(HttpMethod.Post, remote.BaseUrl.TrimEnd('/') + "/chat/completions")
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (remote.ApiKeyEnv is { Length: > 0 } env && Environment.GetEnvironmentVariable(env) is { Length: > 0 } key)
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            metrics.RemoteCall(model.Name, "unreachable", 0);
            throw AiFleetException.ModelUnavailable($"provider '{remote.Provider}' of model '{model.Name}' is unreachable: {e.Message}");
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var detail = await ErrorMessageAsync(response, cancellationToken);
            metrics.RemoteCall(model.Name, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture), 0);
            var from = $"provider '{remote.Provider}' of model '{model.Name}' answered {(int)response.StatusCode}";
            throw response.StatusCode switch
            {
                HttpStatusCode.TooManyRequests => AiFleetException.Overloaded($"{from}: {detail}", RetryAfterMs(response)),
                HttpStatusCode.BadRequest or HttpStatusCode.UnprocessableEntity => AiFleetException.Invalid($"{from}: {detail}"),
                _ => AiFleetException.ModelUnavailable($"{from}: {detail}"),
            };
        }
    }

    private static int RetryAfterMs(HttpResponseMessage response) =>
        response.Headers.RetryAfter?.Delta is { } delta ? (int)Math.Clamp(delta.TotalMilliseconds, 100, 60_000) : 1000;

    /// <summary>The provider's error message (OpenAI's <c>{"error": {"message"}}</c>), or the start of its body.</summary>
    private static async Task<string> ErrorMessageAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            if (JsonNode.Parse(text)?["error"]?["message"]?.GetValue<string>() is { } message)
            {
                return message;
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // not JSON: fall through to the raw text
        }

        return text.Length > 200 ? text[..200] : text;
    }

    private static (string? Text, string? FinishReason, (int Prompt, int Completion)? Usage) Parse(RepositoryModel model, string data)
    {
        try
        {
            var node = JsonNode.Parse(data);
            (int, int)? usage = node?["usage"] is JsonObject u && u["prompt_tokens"] is { } p && u["completion_tokens"] is { } c
                ? (p.GetValue<int>(), c.GetValue<int>())
                : null;
            var choice = node?["choices"] is JsonArray { Count: > 0 } choices ? choices[0] : null;
            return (choice?["delta"]?["content"]?.GetValue<string>(), choice?["finish_reason"]?.GetValue<string>(), usage);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw AiFleetException.ModelUnavailable($"model '{model.Name}': the provider sent an event that is not a chat chunk ({e.Message})");
        }
    }
}
