using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.AiFleet.Grains.Hosting;

// The silo host. With AiFleet:Cluster:Postgres set (env AIFLEET__CLUSTER__POSTGRES) it joins the cluster through
// PostgreSQL membership; without it, it runs one localhost silo. Grain state is in memory until Redis lands.
var builder = Host.CreateApplicationBuilder(args);
var cluster = builder.Configuration.GetSection(AiFleetClusterOptions.SectionName).Get<AiFleetClusterOptions>() ?? new();
builder.UseOrleans(silo =>
{
    if (cluster.IsConfigured)
    {
        silo.UseAiFleetCluster(cluster);
    }
    else
    {
        silo.UseLocalhostClustering();
    }

    silo.AddAiFleet().UseAiFleetInMemoryState();
});
builder.Build().Run();
