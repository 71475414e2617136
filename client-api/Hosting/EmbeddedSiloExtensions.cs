using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.ClientApi.Hosting;

/// <summary>The embedded default: one silo in this process on localhost clustering and in-memory state.</summary>
internal static partial class EmbeddedSiloExtensions
{
    public static WebApplicationBuilder AddAiFleetEmbeddedSilo(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<EmbeddedSiloOptions>().BindConfiguration(EmbeddedSiloOptions.SectionName).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<EmbeddedSiloOptions>, EmbeddedSiloOptionsValidator>();
        var embedded = builder.Configuration.GetSection(EmbeddedSiloOptions.SectionName).Get<EmbeddedSiloOptions>() ?? new();
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(embedded.SiloPort, embedded.GatewayPort)
            .AddAiFleet()
            .UseAiFleetInMemoryState());
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
