using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using System.Net;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.AiFleet.Grains.Fleet;
using Orleans.AiFleet.Grains.Hosting;
using Orleans.AiFleet.Grains.Replicas;
using Orleans.AiFleet.Grains.Routing;
using Orleans.AiFleet.Grains.Lifecycle;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Runtime.MembershipService.SiloMetadata;
using StackExchange.Redis;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.Hosting;

/// <summary>
/// The one silo configuration of Orleans.AiFleet, shared by silo/, the embedded default in client-api and the test
/// clusters, so all of them run the same grains with the same services and options.
/// </summary>
public static class AiFleetSiloBuilderExtensions
{
    /// <summary>
    /// Registers the grains' services and options, nothing about clustering or state, and no warm-up: the test
    /// clusters' building block. Safe to call more than once.
    /// </summary>
    public static ISiloBuilder AddAiFleet(this ISiloBuilder silo)
    {
        var services = silo.Services;
        services.AddOptions<ModelRepositoryOptions>().BindConfiguration(ModelRepositoryOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ModelRepositoryOptions>, ModelRepositoryOptionsValidator>());
        services.AddMetrics();
        services.TryAddSingleton<IModelStore, FolderModelStore>();
        services.TryAddSingleton<ModelRepository>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, UploadedVersionsLoader>();
        services.TryAddSingleton<OnnxSessionCache>();
        services.TryAddSingleton<InferenceMetrics>();
        services.TryAddSingleton<Orleans.AiFleet.Grains.Fleet.FleetGauges>();
        services.TryAddSingleton<Orleans.AiFleet.Grains.Budgets.BudgetMetrics>();
        services.TryAddSingleton<Orleans.AiFleet.Grains.Courses.SagaMetrics>();
        services.TryAddSingleton<RoutingTableCache>();
        services.TryAddSingleton<ReplicaCircuits>();
        services.TryAddSingleton<TokenizerCache>();
        services.TryAddSingleton<RemoteChatClient>();
        services.TryAddSingleton<ChatPlanner>();
        services.TryAddSingleton<ChatExecutor>();
        services.AddRoutingPipelines();
        services.TryAddSingleton<BudgetLeases>();
        services.TryAddSingleton<TrafficPolicyCache>();
        services.TryAddSingleton<LifecycleCollector>();
        services.TryAddSingleton<LifecycleGauges>();
        services.TryAddSingleton<DriftProfiles>();
        services.TryAddSingleton<LifecycleReporter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, LifecycleReporter>(sp => sp.GetRequiredService<LifecycleReporter>()));
        services.AddOptions<LifecycleOptions>().BindConfiguration(LifecycleOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LifecycleOptions>, LifecycleOptionsValidator>());
        services.AddOptions<BudgetOptions>().BindConfiguration(BudgetOptions.SectionName);
        services.AddOptions<ResponseCacheOptions>().BindConfiguration(ResponseCacheOptions.SectionName);
        services.AddOptions<FleetOptions>().BindConfiguration(FleetOptions.SectionName);
        services.AddOptions<Orleans.AiFleet.Grains.Courses.CourseOptions>().BindConfiguration(Orleans.AiFleet.Grains.Courses.CourseOptions.SectionName);
        services.TryAddKeyedSingleton(AiFleetServiceKeys.Clock, TimeProvider.System);
        if (!services.Any(d => d.ServiceType == typeof(ReplicaPlacementDirector)))
        {
            // Grain calls carry the caller's trace context. Spans are only made while something listens (a tracer
            // provider when tracing is on), so this costs a check per call when it is off.
            silo.AddActivityPropagation();

            silo.AddPlacementDirector<ReplicaPlacementStrategy, ReplicaPlacementDirector>();

            // The Orleans Dashboard's collectors on every silo; client-api serves its UI at /dashboard.
            silo.AddDashboard(o => o.CounterUpdateIntervalMs = 1000);
        }

        return silo;
    }

    /// <summary>
    /// The whole silo from one options object, as silo/ and the embedded default run it: cluster mode on PostgreSQL
    /// membership when <paramref name="options"/> names a database (else one silo on localhost clustering), grain state
    /// in Redis when it names one (else in memory), the grains' services, and model warm-up as the silo's own start-up
    /// task (<see cref="SiloModelWarmup"/>).
    /// </summary>
    public static ISiloBuilder AddAiFleet(this ISiloBuilder silo, AiFleetClusterOptions options)
    {
        if (options.IsConfigured)
        {
            silo.UseAiFleetCluster(options);
        }
        else
        {
            silo.UseLocalhostClustering();
        }

        silo.AddAiFleet();
        if (options.IsConfigured && !string.IsNullOrWhiteSpace(options.Redis))
        {
            silo.UseAiFleetRedisState(options.Redis, options.StoreTimeout);
        }
        else
        {
            silo.UseAiFleetInMemoryState();
        }

        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloModelWarmup>();
        return silo;
    }

    /// <summary>
    /// Cluster mode: membership in PostgreSQL through Orleans' ADO.NET clustering running this project's query texts
    /// (db/), listening on the advertised address only, with mutual TLS on the silo and gateway ports when a
    /// certificate is configured (<see cref="ClusterTlsOptions"/>). The options are validated here, before anything
    /// starts, so a bad setting (a reachable silo without a certificate, say) stops the silo with a message naming it.
    /// </summary>
    public static ISiloBuilder UseAiFleetCluster(this ISiloBuilder silo, AiFleetClusterOptions options)
    {
        var result = new AiFleetClusterOptionsValidator().Validate(null, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(AiFleetClusterOptions.SectionName, typeof(AiFleetClusterOptions), result.Failures);
        }

        silo.Services.Replace(ServiceDescriptor.Singleton<IModelStore>(new PostgresModelStore(options.Postgres!))); // uploaded versions, shared by every silo
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        var advertised = IPAddress.Parse(options.AdvertisedAddress);
        silo.ConfigureEndpoints(advertised, options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
        silo.Configure<EndpointOptions>(o =>
        {
            // Listen on the advertised address only. Said outright: Kubernetes hosting fills listening endpoints left
            // unset with 0.0.0.0 (every interface of the pod).
            o.SiloListeningEndpoint = new IPEndPoint(advertised, options.SiloPort);
            o.GatewayListeningEndpoint = new IPEndPoint(advertised, options.GatewayPort);
        });
        if (options.Tls.IsConfigured)
        {
            ClusterTls.Load(options.Tls).Secure(silo);
        }

        silo.UseAdoNetClustering(o =>
        {
            o.Invariant = PostgresInvariant;
            o.ConnectionString = options.Postgres;
        });
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            // Fast failure detection (see AiFleetClusterOptions.ProbeTimeout); the bounds Orleans checks move with it.
            o.ProbeTimeout = options.ProbeTimeout;
            o.MinProbeTimeout = options.ProbeTimeout / 2;
            o.MaxProbeTimeout = options.ProbeTimeout * 4;
            o.NumMissedProbesLimit = options.MissedProbesLimit;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(10); // the fallback when a death is not gossiped
            o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
        });
        var gpu = options.Gpu ?? ExecutionProviderSelector.CudaAvailable;
        silo.UseSiloMetadata(new Dictionary<string, string> { [ReplicaPlacementStrategy.GpuMetadataKey] = gpu ? "true" : "false" });
        return silo;
    }

    /// <summary>ADO.NET provider name of Npgsql, which Orleans loads by reflection.</summary>
    public const string PostgresInvariant = "Npgsql";

    /// <summary>
    /// Grain state (fleets, budgets, sagas), reminders, the ledger and the response cache in Redis, so they survive
    /// silo restarts and move with grains between silos. Every Redis call gives up after
    /// <paramref name="storeTimeout"/> (<see cref="AiFleetClusterOptions.DefaultStoreTimeout"/> when null), and a
    /// connection that is down fails calls at once: with Redis hung or gone, state-backed routes answer 503 with
    /// Retry-After quickly, and everything reconnects by itself.
    /// </summary>
    public static ISiloBuilder UseAiFleetRedisState(this ISiloBuilder silo, string redis, TimeSpan? storeTimeout = null)
    {
        var configuration = RedisTimeouts.Apply(ConfigurationOptions.Parse(redis), storeTimeout ?? AiFleetClusterOptions.DefaultStoreTimeout);
        silo.AddRedisGrainStorage(AiFleetStorage.Name, o => o.ConfigurationOptions = configuration);
        silo.AddRedisGrainStorageAsDefault(o => o.ConfigurationOptions = configuration);
        silo.UseRedisReminderService(o => o.ConfigurationOptions = configuration);
        silo.Services.TryAddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(configuration));
        silo.Services.TryAddSingleton<ILedgerStore, RedisLedgerStore>();
        silo.Services.TryAddSingleton<Orleans.AiFleet.Grains.Tenancy.ITenantDirectoryStore, Orleans.AiFleet.Grains.Tenancy.RedisTenantDirectoryStore>();
        silo.Services.TryAddSingleton<ResponseCache, RedisResponseCache>();
        var timeout = storeTimeout ?? AiFleetClusterOptions.DefaultStoreTimeout;
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => ActivatorUtilities.CreateInstance<StoreWarmup>(sp, timeout));
        return silo;
    }

    /// <summary>In-memory grain state and reminders: the embedded default and tests. Nothing survives a restart.</summary>
    public static ISiloBuilder UseAiFleetInMemoryState(this ISiloBuilder silo)
    {
        silo.Services.TryAddSingleton<ILedgerStore, InMemoryLedgerStore>();
        silo.Services.TryAddSingleton<Orleans.AiFleet.Grains.Tenancy.ITenantDirectoryStore, Orleans.AiFleet.Grains.Tenancy.InMemoryTenantDirectoryStore>();
        silo.Services.TryAddSingleton<ResponseCache, InMemoryResponseCache>();
        return silo.AddMemoryGrainStorage(AiFleetStorage.Name).AddMemoryGrainStorageAsDefault().UseInMemoryReminderService();
    }
}
