using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>Settings of the routers' resilience pipelines (section <c>AiFleet:Resilience</c>).</summary>
public sealed class ResilienceOptions
{
    public const string SectionName = "AiFleet:Resilience";

    /// <summary>Retries of a KServe or embeddings call on another replica after a replica fault.</summary>
    public int InferRetries { get; set; } = 4;

    public int InferRetryDelayMs { get; set; } = 20;

    /// <summary>Retries of a chat's start on another replica of the same model before its fallback chain moves on.</summary>
    public int ChatReplicaRetries { get; set; } = 2;

    public int ChatRetryDelayMs { get; set; } = 50;

    /// <summary>A replica's breaker opens when this share of its calls in <see cref="BreakerSamplingMs"/> failed as replica faults.</summary>
    public double BreakerFailureRatio { get; set; } = 0.5;

    public int BreakerMinimumThroughput { get; set; } = 4;

    public int BreakerSamplingMs { get; set; } = 2000;

    public int BreakerBreakMs { get; set; } = (int)ReplicaCircuits.BreakDuration.TotalMilliseconds;
}

/// <summary>
/// The routers' Polly pipelines, registered through Polly.Extensions so they are built once, configured from
/// <see cref="ResilienceOptions"/>, and report Polly's telemetry (the <c>Polly</c> meter and its logs). Replica
/// circuit breakers are added to the same registry at run time, keyed <c>aifleet.replica/{replica}</c>.
/// </summary>
internal static class RoutingPipelines
{
    public const string InferRetry = "aifleet.infer.retry";

    public const string ChatReplicaRetry = "aifleet.chat.replica-retry";

    public const string ChatFallback = "aifleet.chat.fallback";

    public const string ReplicaPrefix = "aifleet.replica/";

    public static IServiceCollection AddRoutingPipelines(this IServiceCollection services)
    {
        services.AddOptions<ResilienceOptions>().BindConfiguration(ResilienceOptions.SectionName);
        services.AddResiliencePipeline(InferRetry, static (builder, context) =>
        {
            var o = Options(context.ServiceProvider);
            builder.AddRetry(new RetryStrategyOptions
            {
                // Transport failures, unloading replicas and open circuits: the request never ran, or ran without effect.
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => Faults.IsReplicaFault(e) || e is BrokenCircuitException),
                MaxRetryAttempts = o.InferRetries,
                BackoffType = DelayBackoffType.Exponential,
                Delay = TimeSpan.FromMilliseconds(o.InferRetryDelayMs),
                UseJitter = true,
            });
        });
        services.AddResiliencePipeline(ChatReplicaRetry, static (builder, context) =>
        {
            var o = Options(context.ServiceProvider);
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => Faults.IsReplicaFault(e)
                    || e is AiFleetException { Code: FailureCodes.Overloaded }),
                MaxRetryAttempts = o.ChatReplicaRetries,
                BackoffType = DelayBackoffType.Exponential,
                Delay = TimeSpan.FromMilliseconds(o.ChatRetryDelayMs),
                MaxDelay = TimeSpan.FromSeconds(1),
                UseJitter = true,
            });
        });
        services.AddResiliencePipeline<string, ChatCompletion>(ChatFallback, static builder => builder.AddHedging(ChatExecutor.FallbackOptions()));
        return services;
    }

    private static ResilienceOptions Options(IServiceProvider services) => services.GetRequiredService<IOptions<ResilienceOptions>>().Value;
}
