using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.GrainInterfaces.Models;

/// <summary>An input or output of a model: name, datatype and shape (-1 marks a dynamic dimension).</summary>
[GenerateSerializer, Immutable, Alias("aifleet.TensorSpec")]
public sealed record TensorSpec(
    [property: Id(0)] string Name,
    [property: Id(1)] TensorDataType DataType,
    [property: Id(2)] long[] Shape);

/// <summary>
/// What clients may know about a model: its served versions, the default one, and its signature. When
/// <see cref="MaxBatchSize"/> is above zero, dimension 0 of every input and output is the batch dimension and a
/// request may carry up to that many rows.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.ModelDescriptor")]
public sealed record ModelDescriptor(
    [property: Id(0)] string Name,
    [property: Id(1)] string Platform,
    [property: Id(2)] IReadOnlyList<string> Versions,
    [property: Id(3)] string DefaultVersion,
    [property: Id(4)] IReadOnlyList<TensorSpec> Inputs,
    [property: Id(5)] IReadOnlyList<TensorSpec> Outputs,
    [property: Id(6)] int MaxBatchSize,
    [property: Id(7)] CatalogEntry? Catalog = null);

/// <summary>
/// A model as the cost-aware router sees it: what it does (<c>chat</c>, <c>embeddings</c> or <c>tensor</c>), its
/// tier, quality score (0 to 1), price (per inference and per 1k tokens, in dollars), expected p95 latency, context
/// limit in tokens (0 when it reads no text), and the remote provider that serves it (null for local ONNX models).
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.CatalogEntry")]
public sealed record CatalogEntry(
    [property: Id(0)] string Kind,
    [property: Id(1)] string Tier,
    [property: Id(2)] double Quality,
    [property: Id(3)] decimal CostPerInference,
    [property: Id(4)] decimal CostPer1kTokens,
    [property: Id(5)] int P95LatencyMs,
    [property: Id(6)] int ContextTokens,
    [property: Id(7)] string? Provider);

/// <summary>Whether one version of a model can serve: its replicas that warmed up, of those it should have.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.ModelReadiness")]
public sealed record ModelReadiness(
    [property: Id(0)] string Model,
    [property: Id(1)] string Version,
    [property: Id(2)] int ReadyReplicas,
    [property: Id(3)] int Replicas,
    [property: Id(4)] string? Error = null)
{
    /// <summary>True when every replica warmed up.</summary>
    public bool Ready => Replicas > 0 && ReadyReplicas == Replicas && Error is null;
}

/// <summary>A replica's own view of itself: warm-up, queue and counters.</summary>
[GenerateSerializer, Immutable, Alias("aifleet.ReplicaStatus")]
public sealed record ReplicaStatus(
    [property: Id(0)] string ReplicaId,
    [property: Id(1)] bool Ready,
    [property: Id(2)] DateTimeOffset? WarmedUpAt,
    [property: Id(3)] int QueueLength,
    [property: Id(4)] long CompletedRequests,
    [property: Id(5)] long Batches,
    [property: Id(6)] string ExecutionProvider,
    [property: Id(7)] string Silo,
    [property: Id(8)] long TerminatedRuns = 0,
    [property: Id(9)] int Running = 0);
