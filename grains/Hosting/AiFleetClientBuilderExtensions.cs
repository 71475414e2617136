using Orleans.AiFleet.Grains.Hosting;
using Orleans.Configuration;

namespace Orleans.Hosting;

/// <summary>The client side of cluster mode: gateways found through the same PostgreSQL membership table.</summary>
public static class AiFleetClientBuilderExtensions
{
    public static IClientBuilder UseAiFleetCluster(this IClientBuilder client, AiFleetClusterOptions options)
    {
        if (!options.IsConfigured)
        {
            throw new InvalidOperationException($"{AiFleetClusterOptions.SectionName}:Postgres must be set to join a cluster as a client");
        }

        client.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(10)); // a dead gateway leaves the list soon
        return client.UseAdoNetClustering(o =>
        {
            o.Invariant = AiFleetSiloBuilderExtensions.PostgresInvariant;
            o.ConnectionString = options.Postgres;
        });
    }
}
