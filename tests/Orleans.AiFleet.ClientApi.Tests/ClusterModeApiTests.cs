using System.Net.Http.Json;
using System.Text.Json;
using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// client-api in cluster mode, chosen by configuration alone: an external Orleans client of a real silo host that
/// joined through PostgreSQL, serving the same HTTP surface as the embedded default.
/// </summary>
public sealed class ClusterModeApiTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task ClientApiInClusterMode_ServesInferenceFromARemoteSilo()
    {
        var clusterId = $"api-{Guid.NewGuid():N}";
        using var silo = await TestHosts.StartClusterSiloAsync(postgres.ConnectionString, clusterId, TestHosts.FreePort(), TestHosts.FreePort());

        var httpPort = TestHosts.FreePort();
        await using var api = new ClusterModeApi(postgres.ConnectionString, clusterId, httpPort);
        using var http = await ReadyClientAsync(httpPort);

        var response = await http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(2, outputs: "logits"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Reference.AssertClose(
            Reference.Run("digits", "2", [Samples.Pixels(2)], "logits"),
            KServe.Floats(KServe.Output(await response.JsonAsync(), "logits")));
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/v2/models/nope")).StatusCode);

        // Cluster mode, not the embedded default: no silo in client-api's process, and the replicas live on the remote one.
        Assert.Null(api.Services.GetService<ILocalSiloDetails>());
        var remote = silo.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToString();
        var replica = await api.Services.GetRequiredService<IClusterClient>()
            .GetGrain<IModelReplicaGrain>(ReplicaKey.Format("digits", "2", 0)).GetStatusAsync();
        Assert.Equal(remote, replica.Silo);

        // The OpenAI routes through the external client: embeddings, and chat streamed from a replica on the remote silo.
        var embeddings = await http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = "In the beginning" });
        Assert.Equal(HttpStatusCode.OK, embeddings.StatusCode);
        Assert.Equal(64, (await embeddings.JsonAsync()).GetProperty("data")[0].GetProperty("embedding").GetArrayLength());
        var stream = await http.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "chat-lm", stream = true, max_tokens = 12, temperature = 0.5,
            messages = new[] { new { role = "user", content = "And God said" } },
        });
        var events = (await stream.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1].Trim());
        Assert.Contains("\"usage\"", events[^2]);
        Assert.True(events.Length >= 6, $"expected the role, text in pieces, the finish, the usage and [DONE], got {events.Length} events");
        var spent = (await (await http.GetAsync("/v1/budget")).JsonAsync()).GetProperty("spentToday").GetDecimal();
        Assert.True(spent > 0, "the embedding and the chat were charged to the admin's budget on the remote silo");

        // The dashboard, served by client-api as a client, shows the remote silo.
        JsonElement[] hosts;
        var dashboardGiveUp = DateTime.UtcNow.AddSeconds(20);
        while ((hosts = (await (await http.GetAsync("/dashboard/DashboardCounters")).JsonAsync()).GetProperty("hosts").EnumerateArray().ToArray()).Length == 0)
        {
            Assert.True(DateTime.UtcNow < dashboardGiveUp, "the dashboard listed no silo within 20 s");
            await Task.Delay(250); // it collects every second
        }

        var host = Assert.Single(hosts);
        Assert.Equal("Active", host.GetProperty("status").GetString());
        Assert.Equal(silo.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.Endpoint.Port,
            System.Net.IPEndPoint.Parse(host.GetProperty("siloAddress").GetString()!.Split('@')[0]).Port);

        // The only silo gone: requests get 503 with Retry-After in the protocol's error shape, never a 500.
        await silo.StopAsync();
        var infer = await http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(2));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, infer.StatusCode);
        Assert.NotNull(infer.Headers.RetryAfter);
        Assert.Contains("retry", (await infer.JsonAsync()).GetProperty("error").GetString());
        var unknown = await http.GetAsync($"/v2/models/never-seen-{Guid.NewGuid():N}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unknown.StatusCode);
        Assert.Contains("retry", (await unknown.JsonAsync()).GetProperty("error").GetString());
        var fleet = await http.GetAsync("/v1/fleet/digits");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, fleet.StatusCode);
        Assert.Equal("application/problem+json", fleet.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task ClientApiInClusterMode_RoutesAutoChatsToRemoteProviders_ThroughTheSilo()
    {
        await using var provider = await FakeOpenAiProvider.StartAsync();
        var repository = TestRepository.WithProviders(provider.BaseUrl, FakeOpenAiProvider.KeyVariable, FakeOpenAiProvider.Key);
        var clusterId = $"api-{Guid.NewGuid():N}";
        using var silo = await TestHosts.StartClusterSiloAsync(postgres.ConnectionString, clusterId, TestHosts.FreePort(), TestHosts.FreePort(), repository: repository);
        var httpPort = TestHosts.FreePort();
        await using var api = new ClusterModeApi(postgres.ConnectionString, clusterId, httpPort);
        using var http = await ReadyClientAsync(httpPort);

        const string reply = "and the earth was without form and void"; // plain words: one token each, within the hold
        provider.Set("gpt-4.1-nano", new FakeBehaviour(Reply: reply));
        object Auto(bool stream) => new { model = "auto", min_quality = 0.86, stream, max_tokens = 6, messages = new[] { new { role = "user", content = "In the beginning" } } };

        var answer = await http.PostAsJsonAsync("/v1/chat/completions", Auto(stream: false));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("budget-chat/1", answer.Headers.GetValues("x-aifleet-model").Single());
        Assert.Equal(1, provider.Calls("gpt-4.1-nano"));

        // The remote model's replicas are fleet members on the silo, like local ones.
        var replica = await api.Services.GetRequiredService<IClusterClient>()
            .GetGrain<IModelReplicaGrain>(ReplicaKey.Format("budget-chat", "1", 0)).GetStatusAsync();
        Assert.Equal(("remote:openai", silo.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToString()), (replica.ExecutionProvider, replica.Silo));

        // A streamed auto chat whose first model fails before its first token falls back, across the client boundary.
        provider.Set("gpt-4.1-nano", new FakeBehaviour(FailStatus: 503, Failures: 3, Reply: reply)); // the try and both retries
        var stream = await http.PostAsJsonAsync("/v1/chat/completions", Auto(stream: true));
        Assert.Equal("long-context-chat/1", stream.Headers.GetValues("x-aifleet-model").Single());
        Assert.EndsWith("data: [DONE]\n\n", await stream.Content.ReadAsStringAsync());

        var spent = (await (await http.GetAsync("/v1/budget")).JsonAsync()).GetProperty("spentToday").GetDecimal();
        Assert.True(spent > 0, "both chats were charged on the silo");
    }

    /// <summary>An admin client of client-api once it answers ready (it waits for the cluster's gateways).</summary>
    [Fact]
    public async Task ClientApiInClusterMode_UploadsAVersionIntoPostgres_AndTheSiloServesIt()
    {
        var clusterId = $"upload-{Guid.NewGuid():N}";
        var model = $"up{Guid.NewGuid():N}"[..12]; // the store outlives test runs: a model of this run's own
        var repository = TestRepository.Create("digits", (model, _ => { }));
        using var silo = await TestHosts.StartClusterSiloAsync(postgres.ConnectionString, clusterId, TestHosts.FreePort(), TestHosts.FreePort(), repository: repository);
        var httpPort = TestHosts.FreePort();
        await using var api = new ClusterModeApi(postgres.ConnectionString, clusterId, httpPort);
        using var http = await ReadyClientAsync(httpPort);

        using var form = new MultipartFormDataContent
        {
            { new ByteArrayContent(await File.ReadAllBytesAsync(Path.Combine(TestRepository.Shipped, "digits", "1", "model.onnx"))), "model", "model.onnx" },
        };
        using var uploaded = await http.PutAsync($"/v1/admin/models/{model}/versions/3", form);
        Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);

        using var answer = await http.PostJsonAsync($"/v2/models/{model}/versions/3/infer", KServe.DigitsBody(0));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("3", (await answer.JsonAsync()).GetProperty("model_version").GetString());
        Assert.False(Directory.Exists(Path.Combine(repository, model, "3"))); // in PostgreSQL, not in a folder
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/admin/models/{model}/versions/3")).StatusCode);
    }

    private static async Task<HttpClient> ReadyClientAsync(int httpPort)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") }.WithKey(TestKeys.Admin);
        var giveUp = DateTime.UtcNow.AddSeconds(60);
        while ((await http.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < giveUp, "client-api in cluster mode did not turn ready within 60 s");
            await Task.Delay(100);
        }

        return http;
    }

    private sealed class ClusterModeApi : WebApplicationFactory<Program>
    {
        private readonly string _postgres;
        private readonly string _clusterId;
        private readonly int _port;

        public ClusterModeApi(string postgres, string clusterId, int port)
        {
            (_postgres, _clusterId, _port) = (postgres, clusterId, port);
            UseKestrel(port);
            StartServer();
        }

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseSetting("urls", $"http://127.0.0.1:{_port}");
            builder.UseSetting("AiFleet:Grpc:Port", TestHosts.FreePort().ToString());
            builder.UseSetting("AiFleet:Cluster:Postgres", _postgres);
            builder.UseSetting("AiFleet:Cluster:ClusterId", _clusterId);
            builder.UseSetting("AiFleet:Auth:AdminKey", TestKeys.Admin);
        }
    }

}
