using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Tests;

/// <summary>Loopback ports and real cluster-mode silo hosts for the integration tests.</summary>
internal static class TestHosts
{
    /// <summary>Test ports come from below Linux's ephemeral range (32768–60999 by default), where the system never picks a port for an outgoing connection.</summary>
    private const int FirstPort = 15_000, LastPort = 32_000;

    private static readonly HashSet<int> HandedOut = [];

    // Each test process starts at its own place in the range, so two suites run at once rarely meet.
    private static int _next = FirstPort + Random.Shared.Next(LastPort - FirstPort);

    /// <summary>
    /// A loopback port free at the time of the call, never one this process handed out before (a host given the same
    /// port for its silo and its gateway cannot start), and outside the ephemeral range: a port from that range, once
    /// released, can be taken by any outgoing connection (to Redis, PostgreSQL, another test host) before the host it
    /// was meant for binds it, which is seconds later, after its silo has started (an upload test's second host once
    /// failed so: "address already in use").
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            var port = FirstPort + ((Interlocked.Increment(ref _next) - FirstPort) % (LastPort - FirstPort));
            lock (HandedOut)
            {
                if (HandedOut.Contains(port))
                {
                    continue;
                }
            }

            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
            }
            catch (SocketException)
            {
                continue; // in use (a service the tests started, another process)
            }

            lock (HandedOut)
            {
                if (HandedOut.Add(port))
                {
                    return port;
                }
            }
        }
    }

    /// <summary>
    /// A started silo host in cluster mode, joined through PostgreSQL membership: on the shipped models unless a
    /// repository is given, with state in Redis when a Redis address is given (else in memory), on a manual clock
    /// when one is given, with mutual TLS when TLS settings are given.
    /// </summary>
    public static async Task<IHost> StartClusterSiloAsync(
        string postgres, string clusterId, int siloPort, int gatewayPort,
        string? redis = null, TimeProvider? clock = null, string? repository = null, ClusterTlsOptions? tls = null, ILoggerProvider? logs = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }
        builder.UseOrleans(silo =>
        {
            if (clock is not null)
            {
                silo.Services.AddKeyedSingleton(AiFleetServiceKeys.Clock, clock);
            }

            silo.AddAiFleet(new AiFleetClusterOptions
            {
                Postgres = postgres,
                ClusterId = clusterId,
                ServiceId = clusterId,
                SiloPort = siloPort,
                GatewayPort = gatewayPort,
                Redis = redis,
                Tls = tls ?? new(),
            });

            silo.Services.Configure<ModelRepositoryOptions>(o => o.Path = repository ?? TestRepository.Shipped);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>A started external client of the cluster, finding its gateways in PostgreSQL membership.</summary>
    public static async Task<IHost> StartClusterClientAsync(string postgres, string clusterId)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client => client.UseAiFleetCluster(new AiFleetClusterOptions { Postgres = postgres, ClusterId = clusterId }));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
