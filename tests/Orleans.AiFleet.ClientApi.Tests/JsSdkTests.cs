using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// The official OpenAI JavaScript SDK (npm <c>openai</c>, installed into tests/js by scripts/test.sh), unchanged,
/// driven by tests/js/openai-sdk.mjs against the embedded default over real HTTP.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class JsSdkTests(ApiFixture fixture)
{
    [Fact]
    public async Task OpenAiJsSdk_ModelsEmbeddingsChatStreamingAndErrors_Work()
    {
        var folder = Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, "tests", "js");
        Assert.True(Directory.Exists(Path.Combine(folder, "node_modules", "openai")),
            "the JavaScript SDK is not installed: run scripts/test.sh, or `npm ci` in tests/js");
        var poor = $"poor-{Guid.NewGuid():N}";
        var poorKey = (await (await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user = poor, role = "user" })).JsonAsync()).GetProperty("key").GetString()!;
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync($"/v1/admin/budgets/{poor}", new { daily = 0m })).StatusCode);

        var start = new ProcessStartInfo("node", [Path.Combine(folder, "openai-sdk.mjs")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = folder,
        };
        start.Environment["AIFLEET_BASE_URL"] = new Uri(fixture.BaseAddress, "/v1").ToString();
        start.Environment["AIFLEET_KEY"] = TestKeys.Admin;
        start.Environment["AIFLEET_POOR_KEY"] = poorKey;
        using var node = Process.Start(start)!;
        var errors = node.StandardError.ReadToEndAsync();
        var output = await node.StandardOutput.ReadToEndAsync();
        await node.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(node.ExitCode == 0, $"the JS SDK run failed: {await errors}{output}");
        using var seen = JsonDocument.Parse(output);
        var root = seen.RootElement;
        Assert.Equal(["auto", "chat-lm", "digits", "sentence-encoder", "text-encoder"], root.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal([64, 64], root.GetProperty("embeddings").EnumerateArray().Select(e => e.GetInt32()));
        Assert.False(string.IsNullOrEmpty(root.GetProperty("chat").GetString()));
        Assert.Equal(root.GetProperty("chatUsage").GetRawText(), root.GetProperty("streamUsage").GetRawText());
        Assert.Equal((404, "model_not_found"), Error(root, "unknownModel"));
        Assert.Equal((401, "invalid_api_key"), Error(root, "badKey"));
        Assert.Equal(400, Error(root, "badRequest").Status);
        Assert.Equal((429, "budget_exceeded"), Error(root, "overBudget"));
    }

    private static (int Status, string? Code) Error(JsonElement root, string name) =>
        (root.GetProperty(name).GetProperty("status").GetInt32(), root.GetProperty(name).TryGetProperty("code", out var c) ? c.GetString() : null);
}
