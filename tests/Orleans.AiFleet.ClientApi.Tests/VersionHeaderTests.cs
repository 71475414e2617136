using System.Net;
using System.Net.Http.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>On /v1 a version is named with the x-aifleet-version header, which bypasses the model's traffic policy.</summary>
[Collection(ApiCollection.Name)]
public sealed class VersionHeaderTests(ApiFixture fixture)
{
    [Fact]
    public async Task Embeddings_UseTheVersionTheHeaderNames_AndRefuseOneTheModelLacks()
    {
        using var named = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = JsonContent.Create(new { model = "text-encoder", input = "In the beginning" }) };
        named.Headers.Add("x-aifleet-version", "1");
        using var answer = await fixture.Http.SendAsync(named);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("text-encoder/1", answer.Headers.GetValues("x-aifleet-model").Single());

        using var missing = new HttpRequestMessage(HttpMethod.Post, "/v1/embeddings") { Content = JsonContent.Create(new { model = "text-encoder", input = "In the beginning" }) };
        missing.Headers.Add("x-aifleet-version", "9");
        using var refused = await fixture.Http.SendAsync(missing);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("no version '9'", await refused.Content.ReadAsStringAsync());
    }
}
