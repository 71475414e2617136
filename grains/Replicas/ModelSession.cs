using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// One ONNX Runtime session for one model version on this silo. <see cref="InferenceSession.Run(RunOptions,
/// IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/> is thread-safe, so
/// every replica of the version on the silo shares it: replicas add concurrency lanes, not copies of the weights.
/// </summary>
internal sealed class ModelSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string[] _inputNames;
    private long _runs;
    private int _disposed;

    public ModelSession(RepositoryModel model, string version)
    {
        Model = model.Name;
        Version = version;
        Config = model.ConfigFor(version);
        using var options = ExecutionProviderSelector.Create(
            Config.Execution.PreferGpu, Config.Execution.IntraOpThreads, out var provider, out var reason);
        ExecutionProvider = provider;
        ProviderReason = reason;
        _session = new InferenceSession(model.ModelPath(version), options);
        try
        {
            CheckSignature();
        }
        catch
        {
            _session.Dispose();
            throw;
        }

        _inputNames = Config.Inputs.Select(i => i.Name).ToArray();
        InputNames = _inputNames;
        OutputNames = Config.Outputs.Select(o => o.Name).ToArray();
    }

    public string Model { get; }
    public string Version { get; }
    public ModelConfig Config { get; }
    public string ExecutionProvider { get; }
    public string ProviderReason { get; }
    public IReadOnlyList<string> InputNames { get; }
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>Runs so far, warm-up included.</summary>
    public long RunCount => Interlocked.Read(ref _runs);

    public bool IsDisposed => Volatile.Read(ref _disposed) == 1;

    /// <summary>One run; setting <see cref="RunOptions.Terminate"/> on <paramref name="options"/> from another thread stops it between nodes.</summary>
    public IDisposableReadOnlyCollection<OrtValue> Run(IReadOnlyCollection<OrtValue> inputs, IReadOnlyCollection<string> outputNames, RunOptions? options = null)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        Interlocked.Increment(ref _runs);
        if (options is not null)
        {
            return _session.Run(options, _inputNames, inputs, outputNames);
        }

        using var runOptions = NewRunOptions();
        return _session.Run(runOptions, _inputNames, inputs, outputNames);
    }

    /// <summary>
    /// Options for one run: the CPU arena gives back, at the end of the run, the memory the run grew it by. Without
    /// this a burst of large requests left the arena at its peak for good (about 210 MB over 64 maximal chat-lm calls).
    /// </summary>
    public static RunOptions NewRunOptions()
    {
        var options = new RunOptions();
        options.AddRunConfigEntry("memory.enable_memory_arena_shrinkage", "cpu:0");
        return options;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _session.Dispose();
        }
    }

    /// <summary>The config must describe the ONNX graph: same names, element types, ranks and fixed dimensions.</summary>
    private void CheckSignature()
    {
        var errors = new List<string>();
        Compare("input", Config.Inputs, _session.InputMetadata, errors);
        Compare("output", Config.Outputs, _session.OutputMetadata, errors);
        if (errors.Count > 0)
        {
            throw new InvalidOperationException(
                $"config.json of {Model} does not match version {Version}'s model.onnx: {string.Join("; ", errors)}");
        }
    }

    private static void Compare(string kind, IReadOnlyList<TensorConfig> declared, IReadOnlyDictionary<string, NodeMetadata> graph, List<string> errors)
    {
        foreach (var t in declared)
        {
            if (!graph.TryGetValue(t.Name, out var meta))
            {
                errors.Add($"{kind} '{t.Name}' is not in the graph (it has {string.Join(", ", graph.Keys)})");
                continue;
            }

            TensorDataTypes.TryParse(t.Datatype, out var type);
            var expected = type == TensorDataType.Fp32 ? TensorElementType.Float : TensorElementType.Int64;
            if (meta.ElementDataType != expected)
            {
                errors.Add($"{kind} '{t.Name}' is {meta.ElementDataType} in the graph, {t.Datatype} in config");
            }

            if (meta.Dimensions.Length != t.Shape.Length)
            {
                errors.Add($"{kind} '{t.Name}' has rank {meta.Dimensions.Length} in the graph, {t.Shape.Length} in config");
                continue;
            }

            for (var d = 0; d < t.Shape.Length; d++)
            {
                if (meta.Dimensions[d] > 0 && t.Shape[d] > 0 && meta.Dimensions[d] != t.Shape[d])
                {
                    errors.Add($"{kind} '{t.Name}' dimension {d} is {meta.Dimensions[d]} in the graph, {t.Shape[d]} in config");
                }
            }
        }
    }
}
