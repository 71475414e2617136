using Microsoft.Extensions.Options;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.Configuration;

namespace Orleans.Hosting;

/// <summary>
/// The client side of cluster mode: gateways found through the same PostgreSQL membership table, reached over mutual
/// TLS when a certificate is configured (silos with TLS refuse a client without one).
/// </summary>
public static class AiFleetClientBuilderExtensions
{
    public static IClientBuilder UseAiFleetCluster(this IClientBuilder client, AiFleetClusterOptions options)
    {
        if (!options.IsConfigured)
        {
            throw new InvalidOperationException($"{AiFleetClusterOptions.SectionName}:Postgres must be set to join a cluster as a client");
        }

        var result = new ClusterTlsOptionsValidator().Validate(null, options.Tls);
        if (result.Failed)
        {
            throw new OptionsValidationException(ClusterTlsOptions.SectionName, typeof(ClusterTlsOptions), result.Failures);
        }

        if (options.Tls.IsConfigured)
        {
            ClusterTls.Load(options.Tls).Secure(client);
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
