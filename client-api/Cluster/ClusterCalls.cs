using Orleans.Runtime.Messaging;
using Polly;
using Polly.Retry;

namespace Orleans.AiFleet.ClientApi.Cluster;

/// <summary>
/// client-api's calls into the cluster. <see cref="RunAsync{T}"/> is for calls that may be sent twice: reads,
/// inference, and calls that carry an idempotency id (chat and embeddings holds, course sagas by id);
/// <see cref="RunOnceAsync{T}"/> for the rest (creating a key), which are never re-sent. In cluster
/// mode a call travels through one silo's gateway; when that silo dies the Orleans client does not fail the calls
/// already sent through it, they would wait out the 30 s response timeout. So whenever a gateway connection drops,
/// every call waiting at that moment is abandoned and sent again (through a gateway that is still connected), and
/// calls that fail in transport are retried, both with jittered backoff, for as long as a failover takes (briefly
/// when no gateway is connected at all: then the cluster is down and the caller gets a 503 at once). Answers the cluster gives (bad input,
/// overload, a model's own timeout) pass through. In the embedded default there is no gateway, so calls run as
/// they are.
/// </summary>
internal sealed class ClusterCalls(bool throughGateways)
{
    // About 20 s in all: a silo's death takes Orleans membership 10-15 s to declare with its default probe settings,
    // and until then calls whose directory entry or gateway was on it can fail; they wait, not fail.
    private readonly ResiliencePipeline _retry = Pipeline(attempts: 24);

    private readonly ResiliencePipeline _brief = Pipeline(attempts: 3);

    /// <summary>Gateways connected now, from Orleans' notifications; unknown (-1) until the first.</summary>
    private int _connectedGateways = -1;

    private CancellationTokenSource _gatewayLost = new();

    /// <summary>Orleans' gateway-count notification: a drop abandons (and so re-sends) every call now waiting.</summary>
    public void OnGatewayCountChanged(object? sender, GatewayCountChangedEventArgs e)
    {
        Volatile.Write(ref _connectedGateways, e.NumberOfConnectedGateways);
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

        // With no gateway connected at all the cluster is down, not failing over: answer soon (503) instead of waiting.
        var pipeline = Volatile.Read(ref _connectedGateways) == 0 ? _brief : _retry;
        return await pipeline.ExecuteAsync(
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

    /// <summary>
    /// A call that must not run twice: sent once; if its gateway drops while it waits, the caller gets a 503 saying it
    /// may have taken effect, rather than a second run.
    /// </summary>
    public async Task<T> RunOnceAsync<T>(Func<Task<T>> call)
    {
        if (!throughGateways)
        {
            return await call();
        }

        var lost = Volatile.Read(ref _gatewayLost).Token;
        try
        {
            return await call().WaitAsync(lost);
        }
        catch (Exception e) when (lost.IsCancellationRequested && e is OperationCanceledException or SiloUnavailableException or OrleansMessageRejectionException or ConnectionFailedException)
        {
            throw new AiFleetException(FailureKind.Unavailable, FailureCodes.ClusterUnavailable,
                "the gateway was lost while the call ran, so it may have taken effect: look before you retry", retryAfter: TimeSpan.FromSeconds(1));
        }
    }

    private static ResiliencePipeline Pipeline(int attempts) => new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is
                GatewayLostException or SiloUnavailableException or OrleansMessageRejectionException or ConnectionFailedException),
            MaxRetryAttempts = attempts,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(50),
            MaxDelay = TimeSpan.FromSeconds(1),
            UseJitter = true,
        })
        .Build();

    private sealed class GatewayLostException() : Exception("a gateway connection dropped while the call waited");
}
