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
    /// <summary>A loopback port free at the time of the call.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A started silo host in cluster mode on the shipped models, joined through PostgreSQL membership.</summary>
    public static async Task<IHost> StartClusterSiloAsync(string postgres, string clusterId, int siloPort, int gatewayPort)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo =>
        {
            silo.UseAiFleetCluster(new AiFleetClusterOptions
            {
                Postgres = postgres,
                ClusterId = clusterId,
                SiloPort = siloPort,
                GatewayPort = gatewayPort,
            }).AddAiFleet().UseAiFleetInMemoryState();
            silo.Services.Configure<ModelRepositoryOptions>(o => o.Path = TestRepository.Shipped);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
