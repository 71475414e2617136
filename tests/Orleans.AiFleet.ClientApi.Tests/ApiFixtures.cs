using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// client-api's embedded default as users run it: Kestrel on a loopback port, an in-process silo on its own ports,
/// a model repository. Tests talk to it with a plain HttpClient over real HTTP.
/// </summary>
public abstract class ApiFixtureBase : WebApplicationFactory<Program>, IAsyncLifetime
{
    private readonly string _repository;
    private readonly int _httpPort = TestHosts.FreePort();

    /// <summary>client-api's KServe gRPC port (plaintext HTTP/2).</summary>
    public int GrpcPort { get; } = TestHosts.FreePort();

    protected ApiFixtureBase(string repository)
    {
        _repository = repository;

        // Real Kestrel, listening where the app's own set-up says: the "urls" and AiFleet:Grpc:Port settings below.
        UseKestrel();
    }

    /// <summary>A client presenting the bootstrap admin key.</summary>
    public HttpClient Http { get; } = new HttpClient().WithKey(TestKeys.Admin);

    public Uri BaseAddress => new($"http://127.0.0.1:{_httpPort}");

    /// <summary>A new client of this host presenting <paramref name="key"/>, or no key.</summary>
    public HttpClient Client(string? key = null)
    {
        var http = new HttpClient { BaseAddress = BaseAddress };
        return key is null ? http : http.WithKey(key);
    }

    /// <summary>
    /// A client whose disposed responses close their connection: by default .NET drains what is left of a response
    /// (up to 1 MB, for 2 s) to reuse the connection, so a test that stops reading would not be hanging up at all.
    /// </summary>
    public HttpClient HangingUpClient(string key) =>
        new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = BaseAddress }.WithKey(key);

    public IGrainFactory Grains => Services.GetRequiredService<IGrainFactory>();

    /// <summary>Issues a user key for <paramref name="user"/> (of <paramref name="tier"/>, or the default tier) with the admin key and returns its secret.</summary>
    public async Task<string> NewUserKeyAsync(string user, string? tier = null)
    {
        var created = await Http.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user", tier });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return (await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("key").GetString()!;
    }

    public async Task InitializeAsync()
    {
        StartServer();
        Http.BaseAddress = new Uri($"http://127.0.0.1:{_httpPort}");
        var giveUp = DateTime.UtcNow.AddSeconds(60);
        while ((await Http.GetAsync("/health/ready")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < giveUp, "client-api did not turn ready within 60 s");
            await Task.Delay(50);
        }
    }

    async Task IAsyncLifetime.DisposeAsync()
    {
        Http.Dispose();
        await DisposeAsync();
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("urls", $"http://127.0.0.1:{_httpPort}");
        builder.UseSetting("AiFleet:Grpc:Port", GrpcPort.ToString());
        builder.UseSetting("AiFleet:Models:Path", _repository);
        builder.UseSetting("AiFleet:Auth:AdminKey", TestKeys.Admin);
        builder.UseSetting("AiFleet:Auth:CacheSeconds", "0"); // revocation takes effect at once
        builder.UseSetting("AiFleet:Auth:SocketRecheckSeconds", "1"); // so is a socket's, within a second
        builder.UseSetting("AiFleet:Auth:FailedAttemptsPerMinute", FailedAttemptsPerMinute.ToString()); // every test calls from loopback
        builder.UseSetting("AiFleet:Embedded:SiloPort", TestHosts.FreePort().ToString());
        builder.UseSetting("AiFleet:Embedded:GatewayPort", TestHosts.FreePort().ToString());
        builder.ConfigureTestServices(ConfigureTestServices);
    }

    /// <summary>High by default: the suites send many bad keys from one address on purpose.</summary>
    protected virtual int FailedAttemptsPerMinute => 100_000;

    protected virtual void ConfigureTestServices(IServiceCollection services)
    {
    }
}

/// <summary>The shipped models (a copy: the README's examples upload a version into it).</summary>
public sealed class ApiFixture() : ApiFixtureBase(TestRepository.CopyOfShipped());

/// <summary>
/// Digits variants on a manual clock: <c>tiny-queue</c> (2 queued requests per replica, 1 s batching delay) and
/// <c>tiny-timeout</c> (3 s request timeout, 5 s batching delay, so the timeout comes first), <c>tiny-lanes</c> (one
/// replica, 4 queued per lane but 1 in the low lane); the shipped routing.json (free keys' lane is low, premium's high).
/// </summary>
public sealed class ManualClockApiFixture() : ApiFixtureBase(Repository)
{
    private static readonly string Repository = TestRepository.Create("digits",
        ("tiny-queue", c => { c["maxQueueLength"] = 2; c["maxBatchSize"] = 64; c["maxQueueDelayMs"] = 1000; }),
        ("tiny-timeout", c => { c["maxBatchSize"] = 64; c["maxQueueDelayMs"] = 5000; c["requestTimeoutMs"] = 3000; }),
        ("tiny-lanes", c =>
        {
            c["maxQueueLength"] = 4; // the low lane: 1
            c["maxBatchSize"] = 64;
            c["maxQueueDelayMs"] = 1000;
            c["replicas"] = new JsonObject { ["minReplicas"] = 1, ["maxReplicas"] = 1 };
        })).WithShippedRouting();

    public FakeTimeProvider Time { get; } = new(DateTimeOffset.Parse("2026-11-23T00:00:00Z"));

    protected override void ConfigureTestServices(IServiceCollection services) =>
        services.AddKeyedSingleton<TimeProvider>(AiFleetServiceKeys.Clock, Time);
}
