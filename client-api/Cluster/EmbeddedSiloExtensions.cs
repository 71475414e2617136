using System.Net;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.Configuration;

namespace Orleans.AiFleet.ClientApi.Cluster;

/// <summary>The embedded default: one silo in this process on localhost clustering and in-memory state.</summary>
internal static partial class EmbeddedSiloExtensions
{
    public static WebApplicationBuilder AddAiFleetEmbeddedSilo(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<EmbeddedSiloOptions>().BindConfiguration(EmbeddedSiloOptions.SectionName).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<EmbeddedSiloOptions>, EmbeddedSiloOptionsValidator>();
        builder.UseOrleans(silo =>
        {
            silo.AddAiFleet(new AiFleetClusterOptions()); // no cluster named: localhost clustering, in-memory state, warm-up at start

            // Ports come from options, resolved when the silo starts, so any configuration source (tests' too) applies.
            silo.Services.AddOptions<EndpointOptions>().Configure<IOptions<EmbeddedSiloOptions>>((endpoints, embedded) =>
            {
                endpoints.SiloPort = embedded.Value.SiloPort;
                endpoints.GatewayPort = embedded.Value.GatewayPort;
            });
            silo.Services.AddOptions<DevelopmentClusterMembershipOptions>().Configure<IOptions<EmbeddedSiloOptions>>((membership, embedded) =>
                membership.PrimarySiloEndpoint = new IPEndPoint(IPAddress.Loopback, embedded.Value.SiloPort));
        });
        builder.Services.AddSingleton(new ClusterCalls(throughGateways: false));
        builder.Services.AddHostedService<EmbeddedModeNotice>();
        return builder;
    }

    private sealed partial class EmbeddedModeNotice(ILogger<EmbeddedModeNotice> logger, IOptions<EmbeddedSiloOptions> options) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            LogEmbedded(logger, options.Value.SiloPort, options.Value.GatewayPort);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Warning, Message = "Embedded mode: one in-process silo (localhost ports {SiloPort}/{GatewayPort}) with in-memory grain state and reminders; state is not durable and is lost when this process stops")]
        private static partial void LogEmbedded(ILogger logger, int siloPort, int gatewayPort);
    }
}
