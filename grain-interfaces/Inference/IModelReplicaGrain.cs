using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>
/// One concurrency lane of one model version, keyed "model/version/index" (see <see cref="ReplicaKey"/>): a bounded
/// queue and dynamic batcher over the silo's shared ONNX Runtime session for that version.
/// </summary>
[Alias("aifleet.IModelReplicaGrain")]
public interface IModelReplicaGrain : IGrainWithStringKey
{
    /// <summary>Queues the request into the next batch and returns its slice of the batch's outputs.</summary>
    [Alias("Infer")]
    Task<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken = default);

    /// <summary>Returns once the replica warmed up (activation runs the warm-up before any request).</summary>
    /// <summary>
    /// Continues the prompt one token at a time, streaming each as it is decoded. Every decoding step is an ordinary
    /// request in this replica's batcher, so concurrent generations share batches.
    /// </summary>
    [Alias("Generate")]
    IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken = default);

    [Alias("WarmUp")]
    Task<ReplicaStatus> WarmUpAsync();

    /// <summary>The replica's queue, counters and warm-up time.</summary>
    [Alias("GetStatus")]
    Task<ReplicaStatus> GetStatusAsync();

    /// <summary>Stops taking requests, finishes the queued ones and deactivates.</summary>
    [Alias("Unload")]
    Task UnloadAsync();
}

/// <summary>Builds and parses replica grain keys.</summary>
public static class ReplicaKey
{
    /// <summary>The key of replica <paramref name="index"/> of a model version.</summary>
    public static string Format(string model, string version, int index) => $"{model}/{version}/{index}";

    /// <summary>Splits a replica key; false when it is not of the form model/version/index.</summary>
    public static bool TryParse(string key, out string model, out string version, out int index)
    {
        var parts = key.Split('/');
        model = parts.Length == 3 ? parts[0] : "";
        version = parts.Length == 3 ? parts[1] : "";
        index = -1;
        return parts.Length == 3 && int.TryParse(parts[2], out index) && index >= 0;
    }
}
