using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// The embedded default serving the shipped catalogue: the self-hosted chat-lm beside the four remote tiers, which
/// point at a loopback fake provider. Remote models get a 2 s request timeout so failure tests stay short.
/// </summary>
public sealed class CatalogueApiFixture : ApiFixtureBase
{
    public CatalogueApiFixture() : this(FakeOpenAiProvider.StartAsync().GetAwaiter().GetResult())
    {
    }

    private CatalogueApiFixture(FakeOpenAiProvider provider)
        : base(TestRepository.WithProviders(provider.BaseUrl, FakeOpenAiProvider.KeyVariable, FakeOpenAiProvider.Key, (_, config) =>
        {
            if (config["remote"] is not null)
            {
                config["requestTimeoutMs"] = 2000;
            }
        })) => Provider = provider;

    public FakeOpenAiProvider Provider { get; }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Provider.DisposeAsync();
    }
}

/// <summary>
/// Cost-aware routing through /v1/chat/completions: which model <c>auto</c> picks for each policy and user tier, the
/// fallback chain, jittered retries, hedging, circuit breakers on remote models, tier checks, and what is charged.
/// Each test uses its own users and remote behaviours and puts the provider back as it found it.
/// </summary>
public sealed class RoutingApiTests(CatalogueApiFixture fixture) : IClassFixture<CatalogueApiFixture>
{
    private const string Budget = "gpt-4.1-nano";
    private const string Standard = "gpt-4o-mini";
    private const string LongContext = "gpt-4.1-mini";
    private const string Premium = "gpt-4.1";

    private sealed record Answer(HttpStatusCode Status, string? Model, string? Route, string? Reason, decimal Cost, JsonObject Body);

    private async Task<Answer> ChatAsync(string key, object body)
    {
        using var http = fixture.Client(key);
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", body);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        string? Header(string name) => response.Headers.TryGetValues(name, out var v) ? v.First() : null;
        return new Answer(response.StatusCode, Header("x-aifleet-model"), Header("x-aifleet-route"), Header("x-aifleet-route-reason"),
            decimal.Parse(Header("x-aifleet-cost") ?? "0", System.Globalization.CultureInfo.InvariantCulture), json);
    }

    private static object Auto(double? quality = null, int? latency = null, string? tier = null, string prompt = "In the beginning", bool stream = false, int maxTokens = 8) =>
        new { model = "auto", messages = new[] { new { role = "user", content = prompt } }, max_tokens = maxTokens, min_quality = quality, max_latency_ms = latency, tier, stream };

    [Fact]
    public async Task Models_ListTheCatalogue_WithTiersPricesAndAuto()
    {
        var models = (await fixture.Http.GetFromJsonAsync<JsonObject>("/v1/models"))!["data"]!.AsArray().Select(m => m!.AsObject()).ToDictionary(m => m["id"]!.GetValue<string>());

        Assert.Equal("premium", models["premium-chat"]["tier"]!.GetValue<string>());
        Assert.Equal(0.03m, models["premium-chat"]["cost_per_1k_tokens"]!.GetValue<decimal>());
        Assert.Equal(0.95, models["premium-chat"]["quality"]!.GetValue<double>());
        Assert.Equal(2000, models["premium-chat"]["p95_latency_ms"]!.GetValue<int>());
        Assert.Equal("openai", models["premium-chat"]["owned_by"]!.GetValue<string>());
        Assert.Equal(("budget", 0.88), (models["budget-chat"]["tier"]!.GetValue<string>(), models["budget-chat"]["quality"]!.GetValue<double>()));
        Assert.Equal("self-hosted", models["chat-lm"]["tier"]!.GetValue<string>());
        Assert.Equal("router", models["auto"]["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task Auto_PicksTheCheapestModelMeetingThePolicy()
    {
        var standardUser = await fixture.NewUserKeyAsync("route-std", "standard");
        var premiumUser = await fixture.NewUserKeyAsync("route-prem", "premium");

        // No floor: the self-hosted model is cheapest and good enough.
        var plain = await ChatAsync(standardUser, Auto());
        Assert.Equal(HttpStatusCode.OK, plain.Status);
        Assert.Equal(("chat-lm/1", "cheapest"), (plain.Model, plain.Route));

        // Quality 0.86: budget (0.88, $0.001) beats standard (0.85) and long-context (0.90, $0.015).
        var quality = await ChatAsync(standardUser, Auto(quality: 0.86));
        Assert.Equal(("budget-chat/1", "cheapest"), (quality.Model, quality.Route));
        Assert.Contains("quality >= 0.86", quality.Reason);
        Assert.Equal("budget-chat", quality.Body["model"]!.GetValue<string>());

        // A 600 ms ceiling rules budget out (p95 800 ms): standard (500 ms) is the cheapest left at quality 0.85.
        var fast = await ChatAsync(standardUser, Auto(quality: 0.85, latency: 600));
        Assert.Equal("standard-chat/1", fast.Model);

        // 0.95 is premium only: refused for a standard user, served for a premium one.
        var refused = await ChatAsync(standardUser, Auto(quality: 0.95));
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Contains("no chat model", refused.Body["error"]!["message"]!.GetValue<string>());
        Assert.Equal("premium-chat/1", (await ChatAsync(premiumUser, Auto(quality: 0.95))).Model);

        // A model tier to keep to.
        Assert.Equal("long-context-chat/1", (await ChatAsync(premiumUser, Auto(tier: "long-context"))).Model);

        // A prompt longer than chat-lm's context goes to the cheapest remote model that holds it.
        var longPrompt = string.Join(' ', Enumerable.Repeat("and it was so", 200));
        Assert.Equal("budget-chat/1", (await ChatAsync(standardUser, Auto(prompt: longPrompt))).Model);
    }

    [Fact]
    public async Task RemoteChat_IsChargedTheProvidersUsage_AndTheLedgerAgrees()
    {
        var key = await fixture.NewUserKeyAsync("route-charge", "standard");
        var before = fixture.Provider.Calls(Budget);

        // Plain words, one token each, so the router's running count of the stream stays within the hold.
        fixture.Provider.Set(Budget, new FakeBehaviour(Reply: "the quick brown fox jumps over the lazy dog"));
        Answer answer;
        try
        {
            answer = await ChatAsync(key, new { model = "budget-chat", messages = new[] { new { role = "user", content = "Tell me a story" } }, max_tokens = 5 });
        }
        finally
        {
            fixture.Provider.Set(Budget, new FakeBehaviour());
        }

        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(before + 1, fixture.Provider.Calls(Budget));
        var usage = answer.Body["usage"]!;
        var (prompt, completion) = (usage["prompt_tokens"]!.GetValue<int>(), usage["completion_tokens"]!.GetValue<int>());
        Assert.Equal((4 + 7, 5), (prompt, completion)); // the fake's usage: words + 7, and max_tokens words
        Assert.Equal("the quick brown fox jumps", answer.Body["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Equal(Math.Round(0.001m * (prompt + completion) / 1000m, 6), answer.Cost);
        var ledger = await fixture.Client(key).GetFromJsonAsync<JsonObject>("/v1/usage");
        Assert.Equal(answer.Cost, ledger!["totalSpend"]!.GetValue<decimal>());
    }

    [Fact]
    public async Task PromptTokens_AreCountedWithTheModelsTiktokenEncoding()
    {
        var key = await fixture.NewUserKeyAsync("route-tokens", "premium");
        var prompt = string.Join(' ', Enumerable.Repeat("Let there be light, and there was light.", 15_000));
        var expected = TiktokenTokenizer.CreateForEncoding("o200k_base").CountTokens(prompt) + 7;

        var answer = await ChatAsync(key, new { model = "premium-chat", messages = new[] { new { role = "user", content = prompt } }, max_tokens = 8 });

        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Contains($"({expected} tokens)", answer.Body["error"]!["message"]!.GetValue<string>());
        Assert.True(expected > 128_000);
    }

    [Fact]
    public async Task AFailingModel_FallsBackToTheNextCheapest_AndOnlyTheAnswerIsCharged()
    {
        var key = await fixture.NewUserKeyAsync("route-fallback", "standard");
        fixture.Provider.Set(Budget, new FakeBehaviour(FailStatus: 503, Failures: 3));
        try
        {
            var before = fixture.Provider.Calls(Budget);
            var answer = await ChatAsync(key, Auto(quality: 0.86));

            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Equal(("long-context-chat/1", "fallback"), (answer.Model, answer.Route));
            Assert.Contains("'budget-chat' failed", answer.Reason);
            // The first try and up to two jittered retries (fewer when the calls just before open the circuit).
            Assert.InRange(fixture.Provider.Calls(Budget) - before, 2, 3);
            var usage = await fixture.Client(key).GetFromJsonAsync<JsonObject>("/v1/usage");
            var rows = usage!["rows"]!.AsArray();
            Assert.Equal(answer.Cost, usage["totalSpend"]!.GetValue<decimal>());
            Assert.Equal(["long-context-chat"], rows.Where(r => r!["spend"]!.GetValue<decimal>() > 0).Select(r => r!["model"]!.GetValue<string>()));
        }
        finally
        {
            await RestoreAsync(Budget, "budget", key);
        }
    }

    [Fact]
    public async Task ThrottledModel_IsRetriedWithBackoff_BeforeAnyFallback()
    {
        var key = await fixture.NewUserKeyAsync("route-retry", "standard");
        fixture.Provider.Set(Budget, new FakeBehaviour(FailStatus: 429, Failures: 2, RetryAfterSeconds: 1));
        try
        {
            var before = fixture.Provider.Calls(Budget);
            var answer = await ChatAsync(key, Auto(quality: 0.86));

            Assert.Equal(("budget-chat/1", "cheapest"), (answer.Model, answer.Route));
            Assert.Equal(before + 3, fixture.Provider.Calls(Budget));
        }
        finally
        {
            fixture.Provider.Set(Budget, new FakeBehaviour());
        }
    }

    [Fact]
    public async Task LatencyCriticalRequest_IsHedgedOnTheNextModel_WhenTheFirstPassesItsP95()
    {
        var key = await fixture.NewUserKeyAsync("route-hedge", "standard");
        fixture.Provider.Set(Budget, new FakeBehaviour(FirstTokenDelayMs: 1800));
        try
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var answer = await ChatAsync(key, Auto(quality: 0.85, latency: 900));
            watch.Stop();

            // budget (p95 800 ms) is cheapest and first; after 800 ms without an answer standard is asked too.
            Assert.Equal(HttpStatusCode.OK, answer.Status);
            Assert.Equal(("standard-chat/1", "hedge"), (answer.Model, answer.Route));
            Assert.True(watch.ElapsedMilliseconds < 1800, $"the hedge should answer before the slow model ({watch.ElapsedMilliseconds} ms)");
            var usage = await fixture.Client(key).GetFromJsonAsync<JsonObject>("/v1/usage");
            Assert.Equal(answer.Cost, usage!["totalSpend"]!.GetValue<decimal>()); // the cancelled try used nothing
        }
        finally
        {
            fixture.Provider.Set(Budget, new FakeBehaviour());
        }
    }

    [Fact]
    public async Task Streaming_FallsBackBeforeTheFirstToken()
    {
        var key = await fixture.NewUserKeyAsync("route-stream", "standard");
        fixture.Provider.Set(Budget, new FakeBehaviour(FailStatus: 500, Failures: 3));
        try
        {
            using var http = fixture.Client(key);
            // The fake sends max_tokens words, which are more tokens than that: ask for room for its whole reply.
            using var response = await http.PostAsJsonAsync("/v1/chat/completions", Auto(quality: 0.86, stream: true, maxTokens: 64));
            var body = await response.Content.ReadAsStringAsync();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("long-context-chat/1", response.Headers.GetValues("x-aifleet-model").Single());
            Assert.Equal("fallback", response.Headers.GetValues("x-aifleet-route").Single());
            var text = new StringBuilder();
            foreach (var line in body.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal)))
            {
                var delta = JsonNode.Parse(line[6..])!["choices"]!.AsArray().FirstOrDefault()?["delta"]?["content"];
                text.Append(delta?.GetValue<string>());
            }

            Assert.StartsWith("gpt-4.1-mini answers:", text.ToString());
            Assert.EndsWith("data: [DONE]\n\n", body);
        }
        finally
        {
            fixture.Provider.Set(Budget, new FakeBehaviour());
        }
    }

    [Fact]
    public async Task AStreamThatWouldPassItsHold_EndsEarly_SayingWhy_AndIsChargedWhatItDelivered()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("route-hold", "standard"));

        // max_tokens 8: the hold covers 8 completion tokens, and the fake sends 8 words, which are more tokens than that.
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "budget-chat", stream = true, max_tokens = 8, messages = new[] { new { role = "user", content = "Hold the line" } },
        });
        var body = await response.Content.ReadAsStringAsync();
        var events = body.Split('\n')
            .Where(l => l.StartsWith("data: {", StringComparison.Ordinal)).Select(l => JsonNode.Parse(l[6..])!).ToArray();

        Assert.Equal("length", events.Select(e => e["choices"]?.AsArray().FirstOrDefault()?["finish_reason"]).Last(f => f is not null)!.GetValue<string>());
        var last = events[^1];
        Assert.True(last["stopped"] is not null, body);
        Assert.Contains("reached what was held", last["stopped"]!.GetValue<string>());
        var delivered = last["usage"]!["total_tokens"]!.GetValue<int>();
        var giveUp = DateTime.UtcNow.AddSeconds(10);
        System.Text.Json.JsonElement usage;
        while ((usage = await http.GetFromJsonAsync<System.Text.Json.JsonElement>("/v1/usage")).GetProperty("totalRequests").GetInt64() == 0)
        {
            Assert.True(DateTime.UtcNow < giveUp, "the chat was not settled");
            await Task.Delay(100);
        }

        Assert.Equal(delivered, usage.GetProperty("totalTokens").GetInt64()); // charged what was sent, not the provider's whole reply
    }

    [Fact]
    public async Task ModelsOutsideTheUsersTier_AreRefusedWith403()
    {
        var free = await fixture.NewUserKeyAsync("route-free", "free");

        var named = await ChatAsync(free, new { model = "premium-chat", messages = new[] { new { role = "user", content = "hi" } } });
        var tier = await ChatAsync(free, Auto(tier: "standard"));
        var auto = await ChatAsync(free, Auto(quality: 0.86));

        Assert.Equal((HttpStatusCode.Forbidden, "model_not_allowed"), (named.Status, named.Body["error"]!["code"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.Forbidden, tier.Status);
        Assert.Equal("budget-chat/1", auto.Model); // free users may use budget models
        var badTier = await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user = "x", role = "user", tier = "gold" });
        Assert.Equal(HttpStatusCode.BadRequest, badTier.StatusCode);
    }

    [Theory]
    [InlineData("min_quality", 1.5, "min_quality")]
    [InlineData("min_quality", "high", "min_quality")]
    [InlineData("max_latency_ms", 0, "max_latency_ms")]
    public async Task BadPolicies_Are400sNamingTheField(string field, object value, string named)
    {
        var body = new Dictionary<string, object> { ["model"] = "auto", ["messages"] = new[] { new { role = "user", content = "hi" } }, [field] = value };

        var answer = await ChatAsync(TestKeys.Admin, body);

        Assert.Equal(HttpStatusCode.BadRequest, answer.Status);
        Assert.Equal(named, answer.Body["error"]!["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task PolicyHeaders_WorkForSdksThatCannotAddBodyFields()
    {
        var key = await fixture.NewUserKeyAsync("route-headers", "standard");
        using var http = fixture.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "auto", messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 4 }),
        };
        request.Headers.Add("x-aifleet-min-quality", "0.86");

        using var response = await http.SendAsync(request);

        Assert.Equal("budget-chat/1", response.Headers.GetValues("x-aifleet-model").Single());
    }

    [Fact]
    public async Task ARemoteModelThatKeepsFailing_OpensItsCircuit_AndAutoPassesItOver()
    {
        var key = await fixture.NewUserKeyAsync("route-circuit", "premium");
        fixture.Provider.Set(LongContext, new FakeBehaviour(FailStatus: 502, Failures: int.MaxValue));
        try
        {
            // Quality 0.9: long-context ($0.015) first, premium ($0.03) behind it. Each request falls back until half
            // of long-context's calls in two seconds (at least four) have failed and its circuit opens.
            var first = await ChatAsync(key, Auto(quality: 0.9));
            Assert.Equal(("premium-chat/1", "fallback"), (first.Model, first.Route));
            Answer skipped = first;
            for (var i = 0; i < 4 && skipped.Route != "cheapest"; i++)
            {
                skipped = await ChatAsync(key, Auto(quality: 0.9));
            }

            // Open: long-context is passed over without a call.
            Assert.Equal(("premium-chat/1", "cheapest"), (skipped.Model, skipped.Route));
            Assert.Contains("1 without a healthy replica passed over", skipped.Reason);
            var calls = fixture.Provider.Calls(LongContext);
            Assert.Equal("premium-chat/1", (await ChatAsync(key, Auto(quality: 0.9))).Model);
            Assert.Equal(calls, fixture.Provider.Calls(LongContext));

            var fleet = await fixture.Http.GetFromJsonAsync<JsonObject>("/v1/fleet/long-context-chat");
            Assert.Contains("\"state\":\"open\"", fleet!.ToJsonString());
        }
        finally
        {
            await RestoreAsync(LongContext, "long-context", key);
        }
    }

    [Fact]
    public async Task ACourseWhoseModelFailsPermanentlyMidWay_IsCompensated_NoCourse_FinishedCallsCharged()
    {
        var key = await fixture.NewUserKeyAsync("course-midway", "standard");
        using var http = fixture.Client(key);
        // The outline and two lessons are written, then the provider refuses every request (400: nothing to retry).
        fixture.Provider.Set(Budget, new FakeBehaviour(FailStatus: 400, Failures: int.MaxValue, FailAfter: 3));
        try
        {
            var started = await http.PostAsJsonAsync("/v1/courses", new { subject = "Psalms", lessons = 6, model = "budget-chat", lesson_tokens = 8 });
            var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
            JsonObject status;
            var giveUp = DateTime.UtcNow.AddSeconds(30);
            do
            {
                await Task.Delay(100);
                status = (await http.GetFromJsonAsync<JsonObject>($"/v1/courses/jobs/{id}"))!;
                Assert.True(DateTime.UtcNow < giveUp, status.ToJsonString());
            }
            while (status["state"]!.GetValue<string>() is "running" or "compensating");

            Assert.Equal("failed", status["state"]!.GetValue<string>());
            Assert.Contains("step 'lessons' failed", status["error"]!.GetValue<string>());
            Assert.InRange(status["lessonsDone"]!.GetValue<int>(), 1, 5);
            Assert.Equal(0, (await http.GetFromJsonAsync<JsonObject>("/v1/courses"))!["total"]!.GetValue<int>());
            var budget = (await http.GetFromJsonAsync<JsonObject>("/v1/budget"))!;
            var charged = status["charged"]!.GetValue<decimal>();
            Assert.True(charged > 0m, "the outline and the lessons written before the failure are charged");
            Assert.Equal((status["spend"]!.GetValue<decimal>(), charged), (charged, budget["spentToday"]!.GetValue<decimal>()));
            Assert.Equal(0m, budget["reserved"]!.GetValue<decimal>());
            var events = await http.GetStringAsync($"/v1/courses/jobs/{id}/events");
            Assert.Contains("event: compensating", events);
            Assert.Contains("event: released", events);
        }
        finally
        {
            fixture.Provider.Set(Budget, new FakeBehaviour());
        }
    }

    /// <summary>
    /// Makes a remote model healthy again and closes its circuit if a test opened it (after the break one trial
    /// call decides), so the other tests find the catalogue as it was.
    /// </summary>
    private async Task RestoreAsync(string remoteModel, string tier, string key)
    {
        fixture.Provider.Set(remoteModel, new FakeBehaviour());
        await Task.Delay(TimeSpan.FromSeconds(5.5));
        for (var i = 0; i < 10 && (await ChatAsync(key, Auto(tier: tier))).Route != "cheapest"; i++)
        {
            await Task.Delay(500);
        }
    }
}
