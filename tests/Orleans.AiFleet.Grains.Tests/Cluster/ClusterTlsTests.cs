using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.AiFleet.GrainInterfaces.Auth;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.Runtime.Messaging;

namespace Orleans.AiFleet.Grains.Tests.Cluster;

/// <summary>
/// The gateway is no open door: a real cluster-mode silo with mutual TLS (certificates from a CA made in-process),
/// reached by external Orleans clients with the cluster's certificate, with none, with another CA's, and by one that
/// does not trust the silo. Only the first may call <see cref="IApiKeyDirectoryGrain"/>.
/// </summary>
public sealed class ClusterTlsTests(TlsSiloFixture silo) : IClassFixture<TlsSiloFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task ClientWithTheClustersCertificate_ConnectsAndCallsTheKeyDirectory()
    {
        using var client = await silo.StartClientAsync(silo.Authority.Issue("client-api"));

        var created = await Directory(client).CreateAsync("operator", "admin", "minted by a cluster member").WaitAsync(Deadline);

        Assert.Equal(("operator", "admin"), (created.Info.User, created.Info.Role));
        Assert.Contains(await Directory(client).ListAsync().WaitAsync(Deadline), k => k.Id == created.Info.Id);
    }

    [Fact]
    public async Task ASecondSiloWithTheClustersCertificate_JoinsOverTls()
    {
        using var second = await silo.StartSiloAsync(silo.Authority.Issue("silo-2", pem: true));
        using var client = await silo.StartClientAsync(silo.Authority.Issue("observer"));

        // Active means the silos have probed each other: silo-to-silo connections speak TLS both ways.
        var hosts = await client.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(Deadline);

        Assert.Equal(2, hosts.Count);
        await second.StopAsync();
    }

    [Fact]
    public async Task PlainTcpClient_IsRefused_AndMintsNoAdminKey() => await AssertRefusedAsync(tls: null);

    [Fact]
    public async Task ClientWithAnotherCasCertificate_IsRefusedByTheSilo()
    {
        // It trusts the cluster's CA, so the silo, not the client, is the side that says no.
        await AssertRefusedAsync(silo.Stranger.Issue("stranger", trusted: silo.Authority));
    }

    [Fact]
    public async Task ClientTrustingAnotherCa_RefusesTheSilo()
    {
        // A client with a good certificate that would not recognise the cluster's: it talks to no impostor gateway either.
        await AssertRefusedAsync(silo.Authority.Issue("misconfigured", trusted: silo.Stranger));
    }

    [Fact]
    public async Task Silo_ListensOnItsAdvertisedAddressOnly()
    {
        // 127.0.0.2 reaches this host's loopback interface as well: a listener on every address would answer there.
        using var advertised = new TcpClient();
        await advertised.ConnectAsync(IPAddress.Loopback, silo.GatewayPort);

        using var other = new TcpClient();
        var refused = await Assert.ThrowsAsync<SocketException>(() => other.ConnectAsync(IPAddress.Parse("127.0.0.2"), silo.GatewayPort));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    private static IApiKeyDirectoryGrain Directory(IHost client) =>
        client.Services.GetRequiredService<IClusterClient>().GetGrain<IApiKeyDirectoryGrain>(IApiKeyDirectoryGrain.DefaultKey);

    /// <summary>
    /// The client cannot connect (so it never reaches its call to mint an admin key), and the cluster holds no key of
    /// the intruder's afterwards.
    /// </summary>
    private async Task AssertRefusedAsync(ClusterTlsOptions? tls)
    {
        var intruder = $"intruder-{Guid.NewGuid():N}";
        var failure = await Record.ExceptionAsync(async () =>
        {
            using var client = await silo.StartClientAsync(tls ?? new());
            await Directory(client).CreateAsync(intruder, "admin", "minted through the gateway").WaitAsync(Deadline);
        });

        Assert.True(failure is ConnectionFailedException, $"the client was not refused: {failure?.ToString() ?? "it connected and minted an admin key"}");
        using var trusted = await silo.StartClientAsync(silo.Authority.Issue("auditor"));
        Assert.DoesNotContain(await Directory(trusted).ListAsync().WaitAsync(Deadline), k => k.User == intruder);
    }
}

/// <summary>A cluster-mode silo with mutual TLS (PEM certificate and key), on PostgreSQL membership and no models.</summary>
public sealed class TlsSiloFixture : IAsyncLifetime
{
    private IHost? _silo;
    private string _postgres = "";
    private readonly string _clusterId = $"tls-{Guid.NewGuid():N}";
    private readonly string _models = System.IO.Directory.CreateTempSubdirectory("aifleet-no-models-").FullName;

    internal TestCertificateAuthority Authority { get; } = new("AiFleet test cluster CA");

    internal TestCertificateAuthority Stranger { get; } = new("Another CA");

    public int GatewayPort { get; } = TestHosts.FreePort();

    public async Task InitializeAsync()
    {
        _postgres = await ServiceScript.StartAsync("postgres");
        _silo = await StartSiloAsync(Authority.Issue("silo", pem: true), GatewayPort);
    }

    /// <summary>A started silo of this cluster with the given TLS settings, on fresh ports unless a gateway port is given.</summary>
    public Task<IHost> StartSiloAsync(ClusterTlsOptions tls, int? gatewayPort = null) =>
        TestHosts.StartClusterSiloAsync(_postgres, _clusterId, TestHosts.FreePort(), gatewayPort ?? TestHosts.FreePort(), repository: _models, tls: tls);

    /// <summary>
    /// A started external client of the silo (gateway from PostgreSQL), with the given TLS settings. A refused
    /// connection fails the start at once: Orleans' default would retry for minutes.
    /// </summary>
    public async Task<IHost> StartClientAsync(ClusterTlsOptions tls)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client => client
            .UseAiFleetCluster(new AiFleetClusterOptions { Postgres = _postgres, ClusterId = _clusterId, ServiceId = _clusterId, Tls = tls })
            .UseConnectionRetryFilter((_, _) => Task.FromResult(false)));
        var host = builder.Build();
        try
        {
            await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(20));
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (_silo is not null)
        {
            await _silo.StopAsync();
            _silo.Dispose();
        }

        Authority.Dispose();
        Stranger.Dispose();
    }
}
