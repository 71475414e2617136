namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>One inference call: the model, an optional version (the model's default when null), the inputs, and
/// the outputs wanted (all of the model's outputs when null or empty). <see cref="Priority"/> is the lane asked
/// for; the router lowers it to what the user's tier allows (<see cref="Priority.Normal"/> when null). <see cref="Team"/>
/// is the team the user's budget charges (their key's), null for their first.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.InferenceRequest")]
public sealed record InferenceRequest(
    [property: Id(0)] string Model,
    [property: Id(1)] string? Version,
    [property: Id(2)] IReadOnlyList<Tensor> Inputs,
    [property: Id(3)] IReadOnlyList<string>? Outputs = null,
    [property: Id(4)] string? Id = null,
    [property: Id(5)] string? User = null,
    [property: Id(6)] string? UserTier = null,
    [property: Id(7)] Priority? Priority = null,
    [property: Id(8)] string? Team = null);

/// <summary>
/// The answer to an <see cref="InferenceRequest"/>: the version that served it and the outputs. <see cref="Id"/> is the
/// client's id, echoed; <see cref="RequestId"/> is the server's own id for a user's request, the one feedback judges
/// and the only one that goes into a response header.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.InferenceResponse")]
public sealed record InferenceResponse(
    [property: Id(0)] string Model,
    [property: Id(1)] string Version,
    [property: Id(2)] string? Id,
    [property: Id(3)] IReadOnlyList<Tensor> Outputs,
    [property: Id(4)] string? RequestId = null);
