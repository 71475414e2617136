using Orleans.AiFleet.GrainInterfaces.Models;
using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>
/// One input or output as written in config.json. <see cref="MaxShape"/> bounds the dynamic (-1) dimensions of an input
/// (0 or absent: unbounded but for the batch, which maxBatchSize bounds); <see cref="Mask"/> marks an attention mask,
/// whose values must be 0 or 1 with at least one 1 per row (an all-zero row would make mean pooling divide by zero).
/// </summary>
public sealed record TensorConfig(string Name, string Datatype, long[] Shape, long[]? MaxShape = null, bool Mask = false, long? VocabSize = null);

/// <summary>How many replicas a version runs and when the fleet scales them (the fleet grain reads the rest).</summary>
public sealed record ReplicaPolicy(
    int MinReplicas = 1,
    int MaxReplicas = 4,
    int TargetInFlightPerReplica = 16,
    int UpscaleDelayMs = 1000,
    int DownscaleDelayMs = 30000);

/// <summary>
/// One queue lane's settings; a null one is the default: the model's queue length and timeout (but a quarter of the
/// queue for the low lane), and a share of 16 (high), 4 (normal) or 1 (low).
/// </summary>
public sealed record LaneLimits(int? MaxQueueLength = null, int? RequestTimeoutMs = null, int? Share = null);

/// <summary>
/// A replica's priority lanes. Each lane's share is its weight in the rows a replica runs while lanes compete: the
/// next row comes from the lane that has had the least service for its share, so a busy high lane gets 16 rows for
/// every 1 of a busy low lane (never starving it), and a lane alone gets everything.
/// </summary>
public sealed record LanesConfig(LaneLimits? High = null, LaneLimits? Normal = null, LaneLimits? Low = null)
{
    internal LaneLimits? Of(Priority lane) => lane switch { Priority.High => High, Priority.Low => Low, _ => Normal };
}

/// <summary>Where a version runs: CUDA when <see cref="PreferGpu"/> and available, else CPU.</summary>
public sealed record ExecutionConfig(bool PreferGpu = true, int IntraOpThreads = 1);

/// <summary>
/// What work costs, for budgets: per inference (per row of a KServe call) and per 1k tokens. On <c>/v2</c> a call's
/// tokens are the elements of its <see cref="TokensInput"/> (by default an input named <c>input_ids</c>), so a
/// token-priced model is never free over KServe.
/// </summary>
public sealed record CostConfig(decimal CostPerInference = 0m, decimal CostPer1kTokens = 0m, string? TokensInput = null);

/// <summary>
/// How a causal language model generates text: its character vocabulary (a JSON list beside the config; 0 padding,
/// 1 beginning, 2 end of text), the names of its logits and recurrent-state tensors, the state's width, and limits.
/// </summary>
public sealed record GenerationConfig(
    string Vocabulary = "vocab.json",
    string LogitsOutput = "logits",
    string StateInput = "state",
    string StateOutput = "state_out",
    int StateSize = 256,
    int ContextLength = 512,
    int MaxNewTokens = 512);

/// <summary>
/// A chat model served by a remote OpenAI-compatible provider (<c>platform: "openai_chat"</c>): the base URL (up to
/// and including <c>/v1</c>), the provider's model id, the environment variable holding the API key (the key itself
/// is never in configuration; without the variable the model is not served), the tiktoken encoding that counts its
/// tokens (<c>o200k_base</c> or <c>cl100k_base</c>), the most requests one replica keeps in flight, and the most
/// tokens one answer may have.
/// </summary>
public sealed record RemoteConfig(
    string Provider = "openai",
    string BaseUrl = "",
    string Model = "",
    string? ApiKeyEnv = null,
    string Encoding = "o200k_base",
    int MaxInFlight = 64,
    int MaxOutputTokens = 4096);

/// <summary>
/// A model's config.json (Triton-like). When <see cref="MaxBatchSize"/> is above zero, dimension 0 of every input
/// and output is the batch dimension (written -1) and the replica batches requests along it.
/// </summary>
public sealed record ModelConfig
{
    public const string DefaultPlatform = "onnxruntime_onnx";
    public const string RemotePlatform = "openai_chat";

    /// <summary>The tiktoken encodings whose data ships with the build.</summary>
    public static readonly IReadOnlyList<string> Encodings = ["o200k_base", "cl100k_base"];

    public string Platform { get; init; } = DefaultPlatform;
    public string? DefaultVersion { get; init; }
    public int MaxBatchSize { get; init; } = 32;

    /// <summary>
    /// The most elements any one input may hold in one run (rows × sequence for token ids), so what one request or
    /// one batch makes the runtime allocate stays within what the host can hold; null: bounded by rows and maxShape only.
    /// A request over it is a 413; a batch stops filling before it.
    /// </summary>
    public long? MaxBatchElements { get; init; }
    public int MaxQueueDelayMs { get; init; } = 2;
    public int MaxQueueLength { get; init; } = 256;
    public int RequestTimeoutMs { get; init; } = 10_000;
    public IReadOnlyList<TensorConfig> Inputs { get; init; } = [];
    public IReadOnlyList<TensorConfig> Outputs { get; init; } = [];
    public ReplicaPolicy Replicas { get; init; } = new();
    public ExecutionConfig Execution { get; init; } = new();
    public LanesConfig Lanes { get; init; } = new();
    public CostConfig Cost { get; init; } = new();

    /// <summary>The input whose elements count as tokens for the per-1k-token price on <c>/v2</c>, if any.</summary>
    public string? TokensInput => Cost.TokensInput ?? (Inputs.Any(i => i.Name == "input_ids") ? "input_ids" : null);
    public double Quality { get; init; }

    /// <summary>The catalogue tier (routing.json's user tiers say who may use which); local models are self-hosted.</summary>
    public string Tier { get; init; } = "self-hosted";

    /// <summary>The expected p95 latency of one request, which <c>auto</c> routing compares with a latency ceiling.</summary>
    public int P95LatencyMs { get; init; } = 100;

    /// <summary>The most tokens (prompt and answer) one request may hold; defaults to a generator's context length.</summary>
    public int? ContextTokens { get; init; }

    /// <summary>Set for models served by a remote provider (<see cref="RemotePlatform"/>).</summary>
    public RemoteConfig? Remote { get; init; }

    /// <summary>Set for causal language models that /v1/chat/completions can use.</summary>
    public GenerationConfig? Generation { get; init; }

    /// <summary>The most requests <paramref name="lane"/> may queue on one replica.</summary>
    internal int QueueLimit(Priority lane) =>
        Lanes.Of(lane)?.MaxQueueLength ?? (lane == Priority.Low ? Math.Max(1, MaxQueueLength / 4) : MaxQueueLength);

    /// <summary><paramref name="lane"/>'s weight among competing lanes.</summary>
    internal int Share(Priority lane) => Lanes.Of(lane)?.Share ?? lane switch { Priority.High => 16, Priority.Normal => 4, _ => 1 };

    /// <summary>How long a request of <paramref name="lane"/> may wait for its answer.</summary>
    internal int TimeoutMs(Priority lane) => Lanes.Of(lane)?.RequestTimeoutMs ?? RequestTimeoutMs;

    /// <summary>The output names in graph order, computed once (the request path reads it on every call).</summary>
    [JsonIgnore]
    internal string[] OutputNames => field ??= Outputs.Select(o => o.Name).ToArray();

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Every problem with this config, each naming the setting; empty when it is valid.</summary>
    public IReadOnlyList<string> Validate() => ModelConfigValidator.Validate(this);

    /// <summary>The config's signature in contract form.</summary>
    internal static IReadOnlyList<TensorSpec> ToSpecs(IReadOnlyList<TensorConfig> tensors) =>
        tensors.Select(t =>
        {
            TensorDataTypes.TryParse(t.Datatype, out var type);
            return new TensorSpec(t.Name, type, t.Shape);
        }).ToArray();
}
