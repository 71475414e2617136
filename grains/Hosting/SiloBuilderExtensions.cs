using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.Grains.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.Hosting;

/// <summary>
/// The one silo configuration of Orleans.AiFleet, shared by silo/, the embedded default in client-api and the test
/// clusters, so all of them run the same grains with the same services and options.
/// </summary>
public static class AiFleetSiloBuilderExtensions
{
    /// <summary>Registers the grains' services and options. Safe to call more than once.</summary>
    public static ISiloBuilder AddAiFleet(this ISiloBuilder silo)
    {
        var services = silo.Services;
        services.AddOptions<ModelRepositoryOptions>().BindConfiguration(ModelRepositoryOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ModelRepositoryOptions>, ModelRepositoryOptionsValidator>());
        services.AddMetrics();
        services.TryAddSingleton<ModelRepository>();
        services.TryAddSingleton<OnnxSessionCache>();
        services.TryAddSingleton<InferenceMetrics>();
        services.TryAddSingleton<ReplicaLoadTracker>();
        services.TryAddKeyedSingleton(AiFleet.Grains.Hosting.AiFleetServiceKeys.Clock, TimeProvider.System);
        return silo;
    }

    /// <summary>In-memory grain state and reminders: the embedded default and tests. Nothing survives a restart.</summary>
    public static ISiloBuilder UseAiFleetInMemoryState(this ISiloBuilder silo) =>
        silo.AddMemoryGrainStorageAsDefault().UseInMemoryReminderService();
}
