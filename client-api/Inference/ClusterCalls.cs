using Orleans.Runtime.Messaging;
using Polly;
using Polly.Retry;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>
/// client-api's calls into the cluster, all of them idempotent (inference, catalogue and fleet reads). In cluster
/// mode a call travels through one silo's gateway; when that silo dies the Orleans client does not fail the calls
/// already sent through it, they would wait out the 30 s response timeout. So whenever a gateway connection drops,
/// every call waiting at that moment is abandoned and sent again (through a gateway that is still connected), and
/// calls that fail in transport are retried, both with jittered backoff, for as long as a failover takes. Answers the cluster gives (bad input,
/// overload, a model's own timeout) pass through. In the embedded default there is no gateway, so calls run as
/// they are.
/// </summary>
internal sealed class ClusterCalls(bool throughGateways)
{
    private static readonly ResiliencePipeline Retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder()
                .Handle<GatewayLostException>()
                .Handle<SiloUnavailableException>()
                .Handle<OrleansMessageRejectionException>()
                .Handle<ConnectionFailedException>(),
            // About 20 s in all: a silo's death takes Orleans membership 10-15 s to declare with its default probe
            // settings, and until then calls whose directory entry or gateway was on it can fail; they wait, not fail.
            MaxRetryAttempts = 24,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(50),
            MaxDelay = TimeSpan.FromSeconds(1),
            UseJitter = true,
        })
        .Build();

    private CancellationTokenSource _gatewayLost = new();

    /// <summary>Orleans' gateway-count notification: a drop abandons (and so re-sends) every call now waiting.</summary>
    public void OnGatewayCountChanged(object? sender, GatewayCountChangedEventArgs e)
    {
        if (e.NumberOfConnectedGateways < e.PreviousNumberOfConnectedGateways)
        {
            Interlocked.Exchange(ref _gatewayLost, new CancellationTokenSource()).Cancel();
        }
    }

    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken = default)
    {
        if (!throughGateways)
        {
            return await call(cancellationToken);
        }

        return await Retry.ExecuteAsync(
            static async (state, ct) =>
            {
                var lost = Volatile.Read(ref state.self._gatewayLost).Token;
                try
                {
                    return await state.call(ct).WaitAsync(lost);
                }
                catch (OperationCanceledException) when (lost.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    throw new GatewayLostException();
                }
            },
            (self: this, call),
            cancellationToken);
    }

    private sealed class GatewayLostException() : Exception("a gateway connection dropped while the call waited");
}
