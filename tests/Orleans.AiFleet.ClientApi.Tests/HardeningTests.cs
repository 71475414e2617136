using System.Net;
using System.Text;
using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// Hostile and malformed traffic as seen in the hardening review: each answer is a 4xx in the route's protocol naming
/// the problem, never a 503 that SDKs would retry or a 500, and never a half-written body.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class HardeningTests(ApiFixture fixture)
{
    public static TheoryData<string, string, string> WrongTypes => new()
    {
        { "/v1/chat/completions", """{"model":"chat-lm","messages":[{"role":"user","content":"hi"}],"max_tokens":"x"}""", "max_tokens" },
        { "/v1/chat/completions", """{"model":"chat-lm","messages":[{"role":"user","content":[1]}]}""", "messages[0].content[0]" },
        { "/v1/chat/completions", """{"model":"chat-lm","messages":[{"role":"user","content":{}}]}""", "messages[0].content" },
        { "/v1/chat/completions", """{"model":"chat-lm","messages":"hi"}""", "messages" },
        { "/v1/chat/completions", """{"model":"chat-lm","messages":[{"role":"user","content":"hi"}],"stream":"yes"}""", "stream" },
        { "/v1/chat/completions", """{"model":["chat-lm"],"messages":[{"role":"user","content":"hi"}]}""", "model" },
        { "/v1/chat/completions", """{"model":"chat-lm","messages":[{"role":"user","content":"hi"}],"temperature":{}}""", "temperature" },
        { "/v1/chat/completions", """{"model":"chat-lm","messages":[{"role":"user","content":"hi"}],"max_tokens":1e40}""", "max_tokens" },
        { "/v1/embeddings", """{"model":"text-encoder","input":"x","encoding_format":{}}""", "encoding_format" },
        { "/v1/embeddings", """{"model":"text-encoder","input":[1,"x"]}""", "input" },
        { "/v1/embeddings", """{"model":7,"input":"x"}""", "model" },
    };

    [Theory]
    [MemberData(nameof(WrongTypes))]
    public async Task WrongJsonTypes_InV1Bodies_Are400_NamingTheField(string path, string body, string field)
    {
        using var response = await fixture.Http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(field, error.GetProperty("param").GetString());
        Assert.False(response.Headers.Contains("Retry-After"));
    }

    [Fact]
    public async Task AnAllZeroAttentionMask_Is400_NotAHalfWrittenBody()
    {
        var body = """{"inputs":[{"name":"input_ids","shape":[1,3],"datatype":"INT64","data":[2,50,3]},{"name":"attention_mask","shape":[1,3],"datatype":"INT64","data":[0,0,0]}]}""";

        using var response = await fixture.Http.PostAsync("/v2/models/text-encoder/infer", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("every row needs at least one 1", JsonDocument.Parse(text).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task AnInputBeyondFp32_Is400_NamingTheValue()
    {
        var pixels = string.Join(',', Enumerable.Repeat("0", 63).Prepend("1e300"));
        var body = $$"""{"inputs":[{"name":"pixels","shape":[1,64],"datatype":"FP32","data":[{{pixels}}]}]}""";

        using var response = await fixture.Http.PostAsync("/v2/models/digits/infer", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("1e300", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task ASequenceOverTheModelsBound_Is413_BeforeAnyRun()
    {
        var ids = string.Join(',', Enumerable.Repeat("5", 4096));
        var body = $$"""{"inputs":[{"name":"input_ids","shape":[1,4096],"datatype":"INT64","data":[{{ids}}]},{"name":"attention_mask","shape":[1,4096],"datatype":"INT64","data":[{{ids.Replace('5', '1')}}]}]}""";

        using var response = await fixture.Http.PostAsync("/v2/models/text-encoder/infer", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("at most 512", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
    }

    [Theory]
    [InlineData("/v2/models/digits/infer", 9 * 1024 * 1024, "error")]
    [InlineData("/v1/embeddings", 5 * 1024 * 1024, "error.message")]
    [InlineData("/v1/admin/keys", 100 * 1024, "detail")]
    public async Task ABodyOverItsRoutesBound_Is413_InTheRoutesShape(string path, int bytes, string messageAt)
    {
        // Expect: 100-continue, as large uploads do: the refusal comes before the body is sent.
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent("{" + new string(' ', bytes) + "}", Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        using var response = await fixture.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var element = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        foreach (var part in messageAt.Split('.'))
        {
            element = element.GetProperty(part);
        }

        Assert.Contains("larger than this route accepts", element.GetString());
    }

    [Fact]
    public async Task AHugeBearer_Is401_InTheRoutesShape()
    {
        using var http = fixture.Client(new string('k', 14 * 1024));

        using var response = await http.GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("invalid_api_key", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task AnUnknownModelNameOfMegabytes_Is4xx_AndNotRemembered()
    {
        var name = new string('m', 6000);

        using var response = await fixture.Http.PostAsync($"/v2/models/{name}/infer", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("at most 128", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString());
    }
}
