using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML.OnnxRuntime;
using OpenAI;
using OpenAI.Chat;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>/v1/chat/completions on the shipped chat-lm, driven by the official OpenAI .NET SDK and by raw HTTP.</summary>
[Collection(ApiCollection.Name)]
public sealed class ChatApiTests(ApiFixture fixture)
{
    private const string Prompt = "And God said, Let there be";

    private ChatClient Chat(string key) => new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(fixture.BaseAddress, "/v1"),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
    }).GetChatClient("chat-lm");

    [Fact]
    public async Task Completion_AtTemperatureZero_IsTheModelsGreedyContinuation_WithUsage()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 40, Temperature = 0 };

        var completion = (await Chat(TestKeys.Admin).CompleteChatAsync([new UserChatMessage(Prompt)], options)).Value;

        var (expected, promptTokens) = Greedy(Prompt, 40);
        Assert.Equal(expected, completion.Content[0].Text);
        Assert.Equal(promptTokens, completion.Usage.InputTokenCount);
        Assert.Equal(expected.Length, completion.Usage.OutputTokenCount);
        Assert.Equal(expected.Length == 40 ? ChatFinishReason.Length : ChatFinishReason.Stop, completion.FinishReason);
    }

    [Fact]
    public async Task Streaming_SendsTheSameTextInPiecesAsItIsDecoded_AndUsageInTheLastChunk()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 33, Temperature = 0 }; // a limit no other test uses: no cached answer
        var pieces = new List<string>();
        ChatTokenUsage? usage = null;

        await foreach (var update in Chat(TestKeys.Admin).CompleteChatStreamingAsync([new UserChatMessage(Prompt)], options))
        {
            pieces.AddRange(update.ContentUpdate.Select(p => p.Text));
            usage ??= update.Usage;
        }

        var (expected, promptTokens) = Greedy(Prompt, 33);
        Assert.Equal(expected, string.Concat(pieces));
        // The first token goes out alone, at once; what is decoded within 4 ms of the last event goes out with the next.
        Assert.True(pieces.Count(p => p.Length > 0) >= 2, "the text should arrive in pieces as it is decoded");
        Assert.NotNull(usage);
        Assert.Equal((promptTokens, expected.Length), (usage.InputTokenCount, usage.OutputTokenCount));
    }

    [Fact]
    public async Task Chat_IsChargedPerToken_AndRefusedWithBudgetExceeded_WhenTheWorstCaseDoesNotFit()
    {
        var user = $"chat-{Guid.NewGuid():N}";
        var key = (await (await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user" })).JsonAsync()).GetProperty("key").GetString()!;
        // chat-lm costs $0.0001 per 1k tokens: a 27-token prompt plus 50 tokens holds $0.0000077 at worst.
        await fixture.Http.PutAsJsonAsync($"/v1/admin/budgets/{user}", new { daily = 0.00001m });
        var chat = Chat(key);

        var sampled = new ChatCompletionOptions { MaxOutputTokenCount = 50, Temperature = 0.7f }; // sampled: never cached
        var first = (await chat.CompleteChatAsync([new UserChatMessage(Prompt)], sampled)).Value;
        var refused = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage(Prompt)], sampled));

        Assert.Equal(429, refused.Status);
        Assert.Contains("budget_exceeded", refused.GetRawResponse()!.Content.ToString());
        var tokens = first.Usage.InputTokenCount + first.Usage.OutputTokenCount;
        using var http = fixture.Client(key);
        var usage = await (await http.GetAsync("/v1/usage")).JsonAsync();
        Assert.Equal(0.0001m * tokens / 1000m, usage.GetProperty("totalSpend").GetDecimal()); // exact, to the nano-dollar
        Assert.Equal(tokens, usage.GetProperty("totalTokens").GetInt64());
    }

    [Fact]
    public async Task ClientGoneMidStream_SettlesWhatWasUsed_AndReleasesTheRest()
    {
        var user = $"gone-{Guid.NewGuid():N}";
        var key = (await (await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user" })).JsonAsync()).GetProperty("key").GetString()!;
        using var http = fixture.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "chat-lm", stream = true, max_tokens = 500, messages = new[] { new { role = "user", content = Prompt } } }),
        };

        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            for (var events = 0; events < 5;)
            {
                if ((await reader.ReadLineAsync())?.StartsWith("data: ", StringComparison.Ordinal) == true)
                {
                    events++;
                }
            }
        } // the client hangs up after a few tokens

        var giveUp = DateTime.UtcNow.AddSeconds(20);
        JsonElement budget;
        while ((budget = await (await http.GetAsync("/v1/budget")).JsonAsync()).GetProperty("openReservations").GetInt32() > 0)
        {
            Assert.True(DateTime.UtcNow < giveUp, "the abandoned chat still holds budget after 20 s");
            await Task.Delay(100);
        }

        var spent = budget.GetProperty("spentToday").GetDecimal();
        Assert.True(spent < 0.0001m * (27 + 500) / 1000m, $"charged {spent}, the whole worst case, for an abandoned stream");
        var ledger = (await (await http.GetAsync("/v1/usage")).JsonAsync()).GetProperty("rows")[0];
        Assert.InRange(ledger.GetProperty("tokens").GetInt64(), 27 + 3, 27 + 499); // the prompt and the tokens sent before the hang-up
    }

    [Fact]
    public async Task DeterministicChat_AnsweredAgain_ComesFromTheCache_Free_AndCounted()
    {
        var user = $"cache-{Guid.NewGuid():N}";
        var key = (await (await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user" })).JsonAsync()).GetProperty("key").GetString()!;
        using var http = fixture.Client(key);
        var body = new { model = "chat-lm", max_tokens = 21, temperature = 0, messages = new[] { new { role = "user", content = "The LORD is my shepherd" } } };

        // Counted on this host's own meter (other hosts in this test process publish meters of the same name, and the
        // process-wide Prometheus export of a name is then shared between them, so it is not what is asserted here).
        var lookups = new System.Collections.Concurrent.ConcurrentQueue<(string Kind, string Result)>();
        var ownMeters = fixture.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "aifleet.cache.requests" && ReferenceEquals(instrument.Meter.Scope, ownMeters))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            string kind = "", result = "";
            foreach (var t in tags)
            {
                (kind, result) = t.Key switch
                {
                    "kind" => (t.Value as string ?? "", result),
                    "result" => (kind, t.Value as string ?? ""),
                    _ => (kind, result),
                };
            }

            lookups.Enqueue((kind, result));
        });
        listener.Start();

        var first = await http.PostAsJsonAsync("/v1/chat/completions", body);
        var spent = (await (await http.GetAsync("/v1/budget")).JsonAsync()).GetProperty("spentToday").GetDecimal();
        var second = await http.PostAsJsonAsync("/v1/chat/completions", body);

        Assert.Equal("miss", first.Headers.GetValues("x-aifleet-cache").Single());
        Assert.Equal("hit", second.Headers.GetValues("x-aifleet-cache").Single());
        var a = (await first.JsonAsync()).GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
        var b = (await second.JsonAsync()).GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
        Assert.Equal(a, b);
        Assert.True(spent > 0);
        Assert.Equal(spent, (await (await http.GetAsync("/v1/budget")).JsonAsync()).GetProperty("spentToday").GetDecimal()); // the hit was free

        var embed = new { model = "text-encoder", input = $"a sentence seen once {Guid.NewGuid():N}" };
        Assert.Equal("miss", (await http.PostAsJsonAsync("/v1/embeddings", embed)).Headers.GetValues("x-aifleet-cache").Single());
        var again = await http.PostAsJsonAsync("/v1/embeddings", embed);
        Assert.Equal(("hit", "0"), (again.Headers.GetValues("x-aifleet-cache").Single(), again.Headers.GetValues("x-aifleet-cost").Single()));
        Assert.Contains(("chat", "miss"), lookups);
        Assert.Contains(("chat", "hit"), lookups);
        Assert.Contains(("embedding", "miss"), lookups);
        Assert.Contains(("embedding", "hit"), lookups);
    }

    [Theory]
    [InlineData("""{"model":"digits","messages":[{"role":"user","content":"hi"}]}""", "not a chat model")]
    [InlineData("""{"model":"chat-lm"}""", "'messages' is required")]
    [InlineData("""{"model":"chat-lm","messages":[{"role":"system","content":"be brief"}]}""", "must hold a user message")]
    [InlineData("""{"model":"chat-lm","messages":[{"role":"wizard","content":"hi"}]}""", "'messages[0].role' must be one of: system, developer, user, assistant, tool")]
    [InlineData("""{"model":"chat-lm","messages":[{"role":"user","content":"hi"}],"max_tokens":0}""", "'max_tokens' must be a positive integer")]
    [InlineData("""{"model":"chat-lm","messages":[{"role":"user","content":"hi"}],"max_tokens":100000}""", "'max_tokens' must be from 1 to")]
    [InlineData("""{"model":"chat-lm","messages":[{"role":"user","content":"hi"}],"temperature":9}""", "'temperature' must be a number from 0 to 2")]
    [InlineData("""{"model":"chat-lm","messages":[{"role":"user","content":"hi"}],"n":3}""", "only 'n': 1")]
    public async Task BadChatRequests_Are400_InOpenAisShape(string body, string expected)
    {
        var response = await fixture.Http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, (await response.JsonAsync()).GetProperty("error").GetProperty("message").GetString());
    }

    /// <summary>The model's greedy continuation computed with ONNX Runtime directly, and the prompt's token count.</summary>
    private static (string Text, int PromptTokens) Greedy(string prompt, int steps)
    {
        var folder = Path.Combine(TestRepository.Shipped, "chat-lm");
        var vocabulary = JsonSerializer.Deserialize<string[]>(File.ReadAllText(Path.Combine(folder, "vocab.json")))!;
        var index = vocabulary.Select((t, i) => (t, i)).Where(x => x.i > 2).ToDictionary(x => x.t[0], x => (long)x.i);
        long[] input = [1, .. prompt.Where(index.ContainsKey).Select(c => index[c])];
        var promptTokens = input.Length;
        using var session = new InferenceSession(Path.Combine(folder, "1", "model.onnx"));
        var state = new float[256];
        var text = new StringBuilder();
        for (var i = 0; i < steps; i++)
        {
            using var ids = OrtValue.CreateTensorValueFromMemory(input, [1, input.Length]);
            using var h = OrtValue.CreateTensorValueFromMemory(state, [1, 256]);
            using var results = session.Run(new RunOptions(), ["input_ids", "state"], [ids, h], ["logits", "state_out"]);
            var logits = results[0].GetTensorDataAsSpan<float>().ToArray();
            state = results[1].GetTensorDataAsSpan<float>().ToArray();
            var next = Array.IndexOf(logits, logits.Max());
            if (next == 2)
            {
                break;
            }

            text.Append(vocabulary[next]);
            input = [next];
        }

        return (text.ToString(), promptTokens);
    }
}
