using Orleans.AiFleet.ClientApi.Cluster;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// What client-api sends again when a gateway drops mid-call: calls safe to repeat are re-sent; a call that must not
/// run twice (creating a key) is not, and its caller is told it may have run.
/// </summary>
public sealed class ClusterCallsTests
{
    [Fact]
    public async Task RunAsync_GatewayLostWhileWaiting_SendsTheCallAgain()
    {
        var calls = Connected();
        var sends = 0;
        var first = new TaskCompletionSource<int>();

        var call = calls.RunAsync(_ => Interlocked.Increment(ref sends) == 1 ? first.Task : Task.FromResult(42));
        calls.OnGatewayCountChanged(null, new GatewayCountChangedEventArgs(1, 2)); // one of two gateways dropped

        Assert.Equal(42, await call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(2, sends);
    }

    [Fact]
    public async Task RunOnceAsync_GatewayLostWhileWaiting_Is503_AndNeverSentAgain()
    {
        var calls = Connected();
        var sends = 0;
        var pending = new TaskCompletionSource<int>();

        var call = calls.RunOnceAsync(() =>
        {
            Interlocked.Increment(ref sends);
            return pending.Task;
        });
        calls.OnGatewayCountChanged(null, new GatewayCountChangedEventArgs(1, 2));

        var failure = await Assert.ThrowsAsync<AiFleetException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(FailureKind.Unavailable, failure.Kind);
        Assert.Contains("may have taken effect", failure.Message);
        Assert.Equal(1, sends);
    }

    private static ClusterCalls Connected()
    {
        var calls = new ClusterCalls(throughGateways: true);
        calls.OnGatewayCountChanged(null, new GatewayCountChangedEventArgs(2, 0));
        return calls;
    }
}
