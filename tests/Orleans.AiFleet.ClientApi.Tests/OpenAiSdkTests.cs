using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using Microsoft.ML.Tokenizers;
using OpenAI;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>The official OpenAI .NET SDK, unchanged, against /v1 over real HTTP.</summary>
[Collection(ApiCollection.Name)]
public sealed class OpenAiSdkTests(ApiFixture fixture)
{
    private static readonly BertTokenizer Tokenizer = BertTokenizer.Create(
        Path.Combine(TestRepository.Shipped, "text-encoder", "vocab.txt"),
        new BertOptions { LowerCaseBeforeTokenization = true, RemoveNonSpacingMarks = true });

    private OpenAIClient Sdk(string key) => new(new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(fixture.BaseAddress, "/v1"),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0), // so a 429 is seen, not retried away
    });

    [Fact]
    public async Task Embeddings_OfTexts_MatchTheEncoderRunDirectly_InInputOrder()
    {
        var texts = new[] { "In the beginning God created the heaven and the earth.", "And the earth was without form, and void." };
        var client = Sdk(TestKeys.Admin).GetEmbeddingClient("text-encoder");

        var result = await client.GenerateEmbeddingsAsync(texts);

        Assert.Equal(2, result.Value.Count);
        for (var i = 0; i < texts.Length; i++)
        {
            var ids = Tokenizer.EncodeToIds(texts[i]).Select(id => (long)id).ToArray();
            var expected = Reference.Run("text-encoder", "1",
                [Tensor.FromInt64s("input_ids", [1, ids.Length], ids), Tensor.FromInt64s("attention_mask", [1, ids.Length], ids.Select(_ => 1L).ToArray())],
                "sentence_embedding");
            Assert.Equal(i, result.Value[i].Index);
            Reference.AssertClose(expected, result.Value[i].ToFloats().ToArray(), 1e-4f);
        }

        var tokens = texts.Sum(t => Tokenizer.EncodeToIds(t).Count);
        Assert.Equal(tokens, result.Value.Usage.InputTokenCount);
        Assert.Equal(tokens, result.Value.Usage.TotalTokenCount);
    }

    [Fact]
    public async Task Models_ListTheRepository_AndAnUnknownModelIs404()
    {
        var models = Sdk(TestKeys.Admin).GetOpenAIModelClient();

        var list = (await models.GetModelsAsync()).Value;

        // The shipped remote models are off without their provider's key (OPENAI_API_KEY); "auto" lets the router choose.
        Assert.Equal(["auto", "chat-lm", "digits", "sentence-encoder", "text-encoder"], list.Select(m => m.Id).Order());
        Assert.Equal("aifleet", list.First().OwnedBy);
        Assert.Equal("text-encoder", (await models.GetModelAsync("text-encoder")).Value.Id);
        var missing = await Assert.ThrowsAsync<ClientResultException>(() => models.GetModelAsync("nope"));
        Assert.Equal(404, missing.Status);
        Assert.Contains("model_not_found", missing.GetRawResponse()!.Content.ToString());
    }

    [Fact]
    public async Task BadKey_Is401_ForTheSdk()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() => Sdk("afk_wrong").GetEmbeddingClient("text-encoder").GenerateEmbeddingAsync("hello"));

        Assert.Equal(401, error.Status);
        Assert.Contains("invalid_api_key", error.GetRawResponse()!.Content.ToString());
    }

    [Fact]
    public async Task UsersBudget_IsCharged_ThenExhausted_As429BudgetExceeded_AndUsageMatches()
    {
        var user = $"sdk-{Guid.NewGuid():N}";
        var created = await (await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user" })).JsonAsync();
        var key = created.GetProperty("key").GetString()!;
        // text-encoder costs $0.0001 per input: room for exactly three.
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync($"/v1/admin/budgets/{user}", new { daily = 0.0003m })).StatusCode);
        var client = Sdk(key).GetEmbeddingClient("text-encoder");

        await client.GenerateEmbeddingsAsync(["one", "two"]);
        await client.GenerateEmbeddingAsync("three");
        var refused = await Assert.ThrowsAsync<ClientResultException>(() => client.GenerateEmbeddingAsync("four"));

        Assert.Equal(429, refused.Status);
        var body = refused.GetRawResponse()!.Content.ToString();
        Assert.Contains("budget_exceeded", body);
        Assert.Contains("daily_cap", body);
        using var http = fixture.Client(key);
        var usage = await (await http.GetAsync("/v1/usage")).JsonAsync();
        Assert.Equal(0.0003m, usage.GetProperty("totalSpend").GetDecimal());
        Assert.Equal(3, usage.GetProperty("totalRequests").GetInt64() + 1); // two calls: one of two inputs, one of one
        var row = Assert.Single(usage.GetProperty("rows").EnumerateArray());
        Assert.Equal("text-encoder", row.GetProperty("model").GetString());
    }

    [Theory]
    [InlineData("""{"input":"x"}""", "'model' is required")]
    [InlineData("""{"model":"text-encoder"}""", "'input' is required")]
    [InlineData("""{"model":"text-encoder","input":[]}""", "must not be empty")]
    [InlineData("""{"model":"text-encoder","input":[1,"a"]}""", "'input' must be a string")]
    [InlineData("""{"model":"text-encoder","input":"x","encoding_format":"hex"}""", "'encoding_format' must be one of: float, base64")]
    [InlineData("""{"model":"digits","input":"x"}""", "does not produce embeddings")]
    [InlineData("""{"model":"text-encoder","input":[[2,-5,3]]}""", "input 0 holds token id -5")]
    [InlineData("""not json""", "not valid JSON")]
    public async Task BadEmbeddingRequests_Are400_InOpenAisErrorShape(string body, string expected)
    {
        var response = await fixture.Http.PostAsync("/v1/embeddings", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.JsonAsync()).GetProperty("error");
        Assert.Contains(expected, error.GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Embeddings_AsBase64_DecodeToTheSameFloats()
    {
        var asFloats = await (await fixture.Http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = "grace" })).JsonAsync();
        var asBase64 = await (await fixture.Http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = "grace", encoding_format = "base64" })).JsonAsync();

        var floats = asFloats.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        var decoded = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Convert.FromBase64String(asBase64.GetProperty("data")[0].GetProperty("embedding").GetString()!)).ToArray();
        Assert.Equal(64, floats.Length);
        Assert.Equal(floats, decoded);
    }
}
