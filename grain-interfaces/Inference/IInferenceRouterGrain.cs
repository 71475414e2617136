namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>
/// The entry point of the inference path: a stateless worker on the caller's silo that resolves the version and
/// picks the least-loaded replica (power of two choices), so no single grain sits on every request.
/// </summary>
[Alias("aifleet.IInferenceRouterGrain")]
public interface IInferenceRouterGrain : IGrainWithIntegerKey
{
    /// <summary>Runs one inference on a replica of the requested (or default) version.</summary>
    [Alias("Infer")]
    Task<InferenceResponse> InferAsync(InferenceRequest request, CancellationToken cancellationToken = default);
}
