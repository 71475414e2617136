using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
#pragma warning disable IDE0005 // the benchmarks compile this file too, in a web project that imports these already
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
#pragma warning restore IDE0005

namespace Orleans.AiFleet.Tests;

/// <summary>
/// How the fake answers one remote model id: the delay before its first token, the pause between tokens, failures
/// (a status code, with Retry-After for 429s) given after <c>FailAfter</c> good answers, a stream dropped after some
/// tokens, and the reply.
/// </summary>
public sealed record FakeBehaviour(
    int FirstTokenDelayMs = 0,
    int TokenDelayMs = 0,
    int FailStatus = 0,
    int Failures = 0,
    int RetryAfterSeconds = 1,
    int DropAfterTokens = -1,
    string? Reply = null,
    int FailAfter = 0);

/// <summary>
/// A stand-in for a remote OpenAI-compatible provider (a test double of an external service, never of something
/// this project ships): <c>POST /v1/chat/completions</c> with <c>stream: true</c> on a loopback port, answering in
/// OpenAI's server-sent events with usage in the last chunk. It requires <see cref="Key"/> as a Bearer token,
/// behaves per model id as <see cref="Set"/> says, and counts what it was asked.
/// </summary>
public sealed class FakeOpenAiProvider : IAsyncDisposable
{
    public const string Key = "fake-provider-key-0123456789";

    /// <summary>The environment variable the test repositories' remote models read their key from.</summary>
    public const string KeyVariable = "AIFLEET_TEST_PROVIDER_KEY";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, FakeBehaviour> _behaviours = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _failuresLeft = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _goodLeft = new(StringComparer.Ordinal);

    private FakeOpenAiProvider(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = "";

    /// <summary>Requests that carried a wrong or no key.</summary>
    public int Unauthorized => _calls.GetValueOrDefault("<unauthorized>");

    public static async Task<FakeOpenAiProvider> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeOpenAiProvider(app);
        app.MapPost("/v1/chat/completions", fake.CompleteAsync);
        await app.StartAsync();
        fake.BaseUrl = app.Urls.First().TrimEnd('/') + "/v1";
        return fake;
    }

    /// <summary>Sets how a model id behaves from now on (its failure count starts over).</summary>
    public void Set(string model, FakeBehaviour behaviour)
    {
        _behaviours[model] = behaviour;
        _failuresLeft[model] = behaviour.Failures;
        _goodLeft[model] = behaviour.FailAfter;
    }

    /// <summary>Requests that reached a model id, failed ones included.</summary>
    public int Calls(string model) => _calls.GetValueOrDefault(model);

    public void ResetCounts() => _calls.Clear();

    /// <summary>Requests for a model id whose caller hung up while they were being answered.</summary>
    public int Aborted(string model) => _aborted.GetValueOrDefault(model);

    /// <summary>Requests for a model id answered to the end.</summary>
    public int Completed(string model) => _completed.GetValueOrDefault(model);

    public string Describe() => string.Join(", ", _aborted.Select(kv => $"aborted {kv.Key}: {kv.Value}").Concat(_completed.Select(kv => $"completed {kv.Key}: {kv.Value}")));

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _aborted = new();

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _completed = new();

    private async Task CompleteAsync(HttpContext http)
    {
        if (http.Request.Headers.Authorization != $"Bearer {Key}")
        {
            _calls.AddOrUpdate("<unauthorized>", 1, (_, n) => n + 1);
            await ErrorAsync(http, 401, "invalid_api_key", "Incorrect API key provided.");
            return;
        }

        var body = (await JsonNode.ParseAsync(http.Request.Body))!.AsObject();
        var model = body["model"]!.GetValue<string>();
        _calls.AddOrUpdate(model, 1, (_, n) => n + 1);
        var behaviour = _behaviours.GetValueOrDefault(model) ?? new FakeBehaviour();
        if (body["stream"]?.GetValue<bool>() != true)
        {
            await ErrorAsync(http, 400, "invalid_request_error", "this fake answers only streaming requests");
            return;
        }

        if (behaviour.FailStatus != 0 && _goodLeft.AddOrUpdate(model, 0, (_, n) => n - 1) < 0 && _failuresLeft.AddOrUpdate(model, 0, (_, n) => n - 1) >= 0)
        {
            if (behaviour.FailStatus == 429)
            {
                http.Response.Headers.RetryAfter = behaviour.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            await ErrorAsync(http, behaviour.FailStatus, "fake_failure", $"the fake fails {model} with {behaviour.FailStatus}");
            return;
        }

        var prompt = string.Concat(body["messages"]!.AsArray().Select(m => m?["content"]?.GetValue<string>()));
        var maxTokens = body["max_tokens"]?.GetValue<int>() ?? 16;
        var words = (behaviour.Reply ?? $"{model} answers: the quick brown fox jumps over the lazy dog and keeps on running far away").Split(' ');
        var tokens = words.Take(maxTokens).ToArray();
        var finish = words.Length > maxTokens ? "length" : "stop";
        var promptTokens = prompt.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length + 7;

        http.Response.ContentType = "text/event-stream";
        try
        {
            await StreamAsync(http, model, behaviour, tokens, finish, promptTokens);
            _completed.AddOrUpdate(model, 1, (_, n) => n + 1);
        }
        catch (Exception) when (http.RequestAborted.IsCancellationRequested)
        {
            _aborted.AddOrUpdate(model, 1, (_, n) => n + 1);
        }
        catch (Exception e)
        {
            _aborted.AddOrUpdate("<other>:" + e.GetType().Name, 1, (_, n) => n + 1);
            throw;
        }
    }

    private static async Task StreamAsync(HttpContext http, string model, FakeBehaviour behaviour, string[] tokens, string finish, int promptTokens)
    {
        await Task.Delay(behaviour.FirstTokenDelayMs, http.RequestAborted);
        var id = "chatcmpl-fake" + Guid.NewGuid().ToString("N");
        for (var i = 0; i < tokens.Length; i++)
        {
            if (i == behaviour.DropAfterTokens)
            {
                http.Abort();
                return;
            }

            if (i > 0 && behaviour.TokenDelayMs > 0)
            {
                await Task.Delay(behaviour.TokenDelayMs, http.RequestAborted);
            }

            await SendAsync(http, new { id, @object = "chat.completion.chunk", model, choices = new[] { new { index = 0, delta = new { content = (i == 0 ? "" : " ") + tokens[i] }, finish_reason = (string?)null } } });
        }

        await SendAsync(http, new { id, @object = "chat.completion.chunk", model, choices = new[] { new { index = 0, delta = new { }, finish_reason = finish } } });
        await SendAsync(http, new { id, @object = "chat.completion.chunk", model, choices = Array.Empty<object>(), usage = new { prompt_tokens = promptTokens, completion_tokens = tokens.Length, total_tokens = promptTokens + tokens.Length } });
        await http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
    }

    private static async Task SendAsync(HttpContext http, object value)
    {
        await http.Response.WriteAsync("data: " + JsonSerializer.Serialize(value) + "\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    private static async Task ErrorAsync(HttpContext http, int status, string code, string message)
    {
        http.Response.StatusCode = status;
        await http.Response.WriteAsJsonAsync(new { error = new { message, type = code, code } });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
