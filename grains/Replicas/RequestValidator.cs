using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>A request checked against its model: inputs in the graph's order, outputs resolved, rows counted.</summary>
internal sealed record PreparedRequest(InferenceRequest Request, Tensor[] Inputs, string[] Outputs, int Rows)
{
    /// <summary>The most elements any one of its inputs holds: what it adds to a batch's element bound.</summary>
    public long Elements { get; } = Inputs.Length == 0 ? 0 : Inputs.Max(t => t.Length);
}

/// <summary>
/// The one check of a request against a model's signature, done on the replica so that every caller (HTTP,
/// other grains, tests) gets the same 400-class message naming the tensor and the problem.
/// </summary>
internal static class RequestValidator
{
    public static PreparedRequest Prepare(ModelConfig config, string model, InferenceRequest request)
    {
        if (request.Inputs is not { Count: > 0 })
        {
            throw Invalid($"the request has no inputs; model '{model}' expects {Expected(config)}");
        }

        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var t in request.Inputs)
        {
            if (t is null || string.IsNullOrEmpty(t.Name))
            {
                throw Invalid("every input needs a name");
            }

            if (!byName.TryAdd(t.Name, t))
            {
                throw Invalid($"input '{t.Name}' is given more than once");
            }

            if (IndexOf(config.Inputs, t.Name) < 0)
            {
                throw Invalid($"model '{model}' has no input '{t.Name}'; it expects {Expected(config)}");
            }
        }

        var inputs = new Tensor[config.Inputs.Count];
        var rows = -1L;
        for (var i = 0; i < inputs.Length; i++)
        {
            var spec = config.Inputs[i];
            if (!byName.TryGetValue(spec.Name, out var t))
            {
                throw Invalid($"missing input '{spec.Name}' ({spec.Datatype} {FormatShape(spec.Shape)})");
            }

            CheckTensor(config, spec, t);
            if (config.MaxBatchSize > 0)
            {
                if (rows >= 0 && t.Shape[0] != rows)
                {
                    throw Invalid($"inputs disagree on the batch dimension: '{t.Name}' has {t.Shape[0]} rows, another has {rows}");
                }

                rows = t.Shape[0];
            }

            inputs[i] = t;
        }

        if (config.MaxBatchSize > 0 && rows > config.MaxBatchSize)
        {
            throw Invalid($"the request has {rows} rows; model '{model}' takes at most {config.MaxBatchSize} (maxBatchSize)");
        }

        if (config.MaxBatchElements is { } most && Array.Find(inputs, t => t.Length > most) is { } big)
        {
            throw AiFleetException.TooLarge(
                $"input '{big.Name}' holds {big.Length} elements (shape {FormatShape(big.Shape)}); model '{model}' takes at most {most} in one request (maxBatchElements: fewer rows or shorter rows)", big.Name);
        }

        return new PreparedRequest(request, inputs, ResolveOutputs(config, model, request.Outputs), config.MaxBatchSize > 0 ? (int)rows : 1);
    }

    private static void CheckTensor(ModelConfig config, TensorConfig spec, Tensor t)
    {
        TensorDataTypes.TryParse(spec.Datatype, out var type);
        if (t.DataType != type)
        {
            throw Invalid($"input '{t.Name}' has datatype {t.DataType.ToProtocolName()}; the model expects {spec.Datatype}");
        }

        if ((type == TensorDataType.Fp32 ? t.Fp32 : (Array?)t.Int64) is null)
        {
            throw Invalid($"input '{t.Name}' has no {spec.Datatype} data");
        }

        if (t.Shape is null || t.Shape.Length != spec.Shape.Length)
        {
            throw Invalid($"input '{t.Name}' has shape {FormatShape(t.Shape ?? [])}; the model expects rank {spec.Shape.Length}, {FormatShape(spec.Shape)}");
        }

        for (var d = 0; d < spec.Shape.Length; d++)
        {
            if (t.Shape[d] < 1)
            {
                throw Invalid($"input '{t.Name}' has shape {FormatShape(t.Shape)}; every dimension must be at least 1");
            }

            if (spec.Shape[d] > 0 && t.Shape[d] != spec.Shape[d])
            {
                throw Invalid($"input '{t.Name}' has shape {FormatShape(t.Shape)}; the model expects {FormatShape(spec.Shape)}");
            }
        }

        if (config.MaxBatchSize == 0 && spec.Shape[0] == -1 && t.Shape[0] < 1)
        {
            throw Invalid($"input '{t.Name}' needs a positive first dimension");
        }

        if (spec.MaxShape is { } max)
        {
            for (var d = 0; d < max.Length; d++)
            {
                if (max[d] > 0 && t.Shape[d] > max[d])
                {
                    throw AiFleetException.TooLarge(
                        $"input '{t.Name}' has shape {FormatShape(t.Shape)}; dimension {d} may be at most {max[d]} for this model (maxShape {FormatShape(max)})", t.Name);
                }
            }
        }

        var count = t.ShapeElementCount();
        if (count < 0 || count > Array.MaxLength)
        {
            throw Invalid($"input '{t.Name}' has shape {FormatShape(t.Shape)}, too large to serve");
        }

        if (t.Length != count)
        {
            throw Invalid($"input '{t.Name}' has {t.Length} values; shape {FormatShape(t.Shape)} needs {count}");
        }

        if (spec.Mask)
        {
            CheckMask(t);
        }

        if (spec.VocabSize is { } vocab)
        {
            CheckTokenIds(t.Name, t.Int64!, vocab);
        }
    }

    /// <summary>
    /// Token ids within the model's vocabulary, checked before anything runs: an id past it would fail inside the
    /// graph, after the rows batched with it had been computed, with a message naming the graph's internals.
    /// </summary>
    public static void CheckTokenIds(string input, long[] values, long vocabSize)
    {
        if (OutsideVocabulary(values, vocabSize) is var i and >= 0)
        {
            throw AiFleetException.Invalid($"input '{input}' holds {values[i]} at position {i}; token ids must be from 0 to {vocabSize - 1} (vocabSize {vocabSize})", input);
        }
    }

    /// <summary>The position of the first id that is negative or not below <paramref name="vocabSize"/>; -1 when none is.</summary>
    public static int OutsideVocabulary(long[] ids, long vocabSize) => Array.FindIndex(ids, id => (ulong)id >= (ulong)vocabSize);

    /// <summary>An attention mask: 0s and 1s, at least one 1 in every row (the last dimension is the sequence).</summary>
    private static void CheckMask(Tensor t)
    {
        var values = t.Int64!;
        var width = (int)t.Shape[^1];
        for (var row = 0; row < values.Length; row += width)
        {
            var any = false;
            for (var i = row; i < row + width; i++)
            {
                if (values[i] is not (0 or 1))
                {
                    throw Invalid($"input '{t.Name}' is an attention mask: its values must be 0 or 1, not {values[i]}");
                }

                any |= values[i] == 1;
            }

            if (!any)
            {
                throw Invalid($"input '{t.Name}' is an attention mask: every row needs at least one 1 (row {row / width} is all 0)");
            }
        }
    }

    private static string[] ResolveOutputs(ModelConfig config, string model, IReadOnlyList<string>? requested)
    {
        var all = config.OutputNames;
        if (requested is not { Count: > 0 })
        {
            return all;
        }

        // In the graph's order, so requests asking for the same set in any order can share a batch.
        var wanted = new bool[all.Length];
        var count = 0;
        foreach (var name in requested)
        {
            var index = Array.IndexOf(all, name);
            if (index < 0)
            {
                throw Invalid($"model '{model}' has no output '{name}'; it has {string.Join(", ", all)}");
            }

            count += wanted[index] ? 0 : 1;
            wanted[index] = true;
        }

        if (count == all.Length)
        {
            return all;
        }

        var outputs = new string[count];
        for (int i = 0, j = 0; i < all.Length; i++)
        {
            if (wanted[i])
            {
                outputs[j++] = all[i];
            }
        }

        return outputs;
    }

    private static int IndexOf(IReadOnlyList<TensorConfig> tensors, string name)
    {
        for (var i = 0; i < tensors.Count; i++)
        {
            if (tensors[i].Name == name)
            {
                return i;
            }
        }

        return -1;
    }

    private static string Expected(ModelConfig config) =>
        string.Join(", ", config.Inputs.Select(i => $"{i.Name} {i.Datatype} {FormatShape(i.Shape)}"));

    public static string FormatShape(long[] shape) => $"[{string.Join(",", shape)}]";

    private static AiFleetException Invalid(string message) => AiFleetException.Invalid(message);
}
