using Orleans.Dashboard;
using Orleans.AiFleet.Grains.Hosting;

namespace Orleans.AiFleet.ClientApi.Cluster;

/// <summary>Cluster mode for client-api: an external Orleans client of the silos found through PostgreSQL.</summary>
internal static partial class ClusterClientExtensions
{
    /// <summary>Joins the configured cluster as a client, or hosts the embedded silo when none is configured.</summary>
    public static WebApplicationBuilder AddAiFleetCluster(this WebApplicationBuilder builder)
    {
        var cluster = builder.Configuration.GetSection(AiFleetClusterOptions.SectionName).Get<AiFleetClusterOptions>() ?? new();
        if (!cluster.IsConfigured)
        {
            return builder.AddAiFleetEmbeddedSilo();
        }

        var calls = new ClusterCalls(throughGateways: true);
        builder.Services.AddSingleton(calls);
        builder.Services.AddSingleton<Grains.Models.IModelStore>(new Grains.Models.PostgresModelStore(cluster.Postgres!)); // uploads land where every silo loads them
        builder.UseOrleansClient(client =>
        {
            client.UseAiFleetCluster(cluster).AddDashboard().AddGatewayCountChangedHandler(calls.OnGatewayCountChanged);
            client.AddActivityPropagation(); // the HTTP request's trace continues into the silos (spans only while traced)
        });
        builder.Services.AddHostedService(sp => new ClusterModeNotice(sp.GetRequiredService<ILogger<ClusterModeNotice>>(), cluster.ClusterId));
        return builder;
    }

    private sealed partial class ClusterModeNotice(ILogger<ClusterModeNotice> logger, string clusterId) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            LogCluster(logger, clusterId);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Information, Message = "Cluster mode: client of cluster '{ClusterId}', gateways from PostgreSQL membership")]
        private static partial void LogCluster(ILogger logger, string clusterId);
    }
}
