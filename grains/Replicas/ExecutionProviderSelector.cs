using Microsoft.ML.OnnxRuntime;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// Builds session options on the best execution provider this process can use: CUDA when the model prefers a GPU,
/// the GPU build of ONNX Runtime is loaded (<c>-p:OnnxRuntimeFlavor=Gpu</c>) and a device answers; CPU otherwise.
/// The CPU package throws on the CUDA calls, so the fallback is by catching what it throws, with the reason kept
/// for the one log line per session.
/// </summary>
internal static class ExecutionProviderSelector
{
    public const string Cuda = "CUDA";
    public const string Cpu = "CPU";

    /// <summary>True when the loaded ONNX Runtime build has the CUDA provider (a device may still be missing).</summary>
    public static bool CudaAvailable => OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider");

    public static SessionOptions Create(bool preferGpu, int intraOpThreads, out string provider, out string reason)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = intraOpThreads,
        };

        // Spinning intra-op threads would burn the cores the HTTP front end and Orleans need between batches.
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");

        provider = Cpu;
        if (!preferGpu)
        {
            reason = "the model does not prefer a GPU";
            return options;
        }

        if (!CudaAvailable)
        {
            reason = "this build of ONNX Runtime has no CUDA provider (build with -p:OnnxRuntimeFlavor=Gpu)";
            return options;
        }

        try
        {
            options.AppendExecutionProvider_CUDA(0);
            provider = Cuda;
            reason = "CUDA device 0";
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            reason = $"CUDA could not start: {e.Message}";
        }

        return options;
    }
}
