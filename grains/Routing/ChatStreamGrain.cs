using System.Runtime.CompilerServices;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// Runs one streamed chat through the silo's <see cref="ChatExecutor"/>. Reentrant so the caller's cancellation and
/// the enumerator's disposal reach it while it waits on the replica; gone once the chat has ended.
/// </summary>
[Reentrant]
[PreferLocalPlacement]
internal sealed class ChatStreamGrain(ChatExecutor streamer) : Grain, IChatStreamGrain
{
    public async IAsyncEnumerable<ChatEvent> StreamAsync(ChatRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        try
        {
            await foreach (var e in streamer.StreamAsync(request, cancellationToken).WithCancellation(cancellationToken))
            {
                yield return e;
            }
        }
        finally
        {
            DeactivateOnIdle();
        }
    }
}
