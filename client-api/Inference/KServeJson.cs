using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>
/// KServe v2 (Open Inference Protocol) JSON: reads an infer request into the grain contract (the answers are
/// written by <see cref="KServeJsonWriter"/>).
/// Only the JSON's own form is checked here; whether the tensors fit the model is the replica's one check.
/// </summary>
internal static partial class KServeJson
{
    /// <summary>Largest tensor accepted over JSON, in elements.</summary>
    public const int MaxElements = 16 * 1024 * 1024;

    private const string InputsRequired = "'inputs' is required: a non-empty list of {name, shape, datatype, data}";

    /// <summary>
    /// Reads an infer request straight from the body's bytes with <see cref="Utf8JsonReader"/>: no document tree, and
    /// each tensor's numbers go directly into an array of the size its shape gives. Fields may come in any order, so
    /// a tensor's <c>data</c> is located first and decoded once its datatype and shape are known.
    /// </summary>
    public static bool TryReadInferRequest(
        in ReadOnlySequence<byte> body, string model, string? version,
        [NotNullWhen(true)] out InferenceRequest? request, [NotNullWhen(false)] out string? error) =>
        TryReadInferRequest(body, ReadOnlySequence<byte>.Empty, model, version, out request, out _, out error);

    /// <summary>
    /// The same, for the binary tensor extension: <paramref name="body"/> is the JSON header and
    /// <paramref name="binary"/> the bytes after it, holding in order the inputs whose <c>binary_data_size</c>
    /// parameter says so. <paramref name="binaryOutputs"/>: the outputs to answer in binary (null: none).
    /// </summary>
    public static bool TryReadInferRequest(
        in ReadOnlySequence<byte> body, in ReadOnlySequence<byte> binary, string model, string? version,
        [NotNullWhen(true)] out InferenceRequest? request, out BinaryOutputs? binaryOutputs, [NotNullWhen(false)] out string? error)
    {
        request = null;
        binaryOutputs = null;
        if (body.IsEmpty)
        {
            error = "the request body is empty; send a JSON object with 'inputs'";
            return false;
        }

        try
        {
            return TryRead(body, binary, model, version, out request, out binaryOutputs, out error);
        }
        catch (JsonException e)
        {
            error = $"the request body is not valid JSON: {e.Message}";
            return false;
        }
    }

    private static bool TryRead(
        in ReadOnlySequence<byte> body, in ReadOnlySequence<byte> binary, string model, string? version,
        [NotNullWhen(true)] out InferenceRequest? request, out BinaryOutputs? binaryOutputs, [NotNullWhen(false)] out string? error)
    {
        request = null;
        binaryOutputs = null;
        var allBinary = false;
        var reader = new Utf8JsonReader(body);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            while (reader.Read())
            {
            }

            error = "the request body must be a JSON object with 'inputs'";
            return false;
        }

        string? id = null;
        List<RawInput>? inputs = null;
        List<string>? outputs = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    error = "'id' must be a string";
                    return false;
                }

                id = reader.GetString();
            }
            else if (reader.ValueTextEquals("inputs"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    error = InputsRequired;
                    return false;
                }

                inputs = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (!TryReadRawInput(ref reader, inputs.Count, out var raw, out error))
                    {
                        return false;
                    }

                    inputs.Add(raw);
                }
            }
            else if (reader.ValueTextEquals("outputs"u8))
            {
                reader.Read();
                if (!TryReadOutputs(ref reader, out outputs, ref binaryOutputs, out error))
                {
                    return false;
                }
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                allBinary = ReadFlag(ref reader, "binary_data_output"u8);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        while (reader.Read())
        {
            // Reading to the end makes the reader reject anything after the object.
        }

        if (inputs is not { Count: > 0 })
        {
            error = InputsRequired;
            return false;
        }

        var tensors = new Tensor[inputs.Count];
        long offset = 0;
        for (var i = 0; i < tensors.Length; i++)
        {
            if (!(inputs[i].BinarySize >= 0
                    ? TryDecodeBinary(binary, ref offset, inputs[i], out tensors[i]!, out error)
                    : TryDecode(body, inputs[i], out tensors[i]!, out error)))
            {
                return false;
            }
        }

        if (offset != binary.Length)
        {
            error = $"the binary part of the body has {binary.Length} bytes; the inputs' 'binary_data_size' parameters add up to {offset}";
            return false;
        }

        if (allBinary)
        {
            binaryOutputs = BinaryOutputs.All;
        }

        request = new InferenceRequest(model, version, tensors, outputs, id);
        error = null;
        return true;
    }

    /// <summary>An input as found in the body: its fields, with its data located but not yet decoded.</summary>
    private sealed class RawInput(int index)
    {
        public int Index { get; } = index;
        public string? Name { get; set; }
        public string? Datatype { get; set; }
        public bool HasDatatype { get; set; }
        public List<long>? Shape { get; set; }
        public string? BadDimension { get; set; }
        public int BadDimensionIndex { get; set; }
        public long DataStart { get; set; } = -1;
        public long DataEnd { get; set; }

        /// <summary>The <c>binary_data_size</c> parameter: its bytes are in the binary part of the body; -1 when absent.</summary>
        public long BinarySize { get; set; } = -1;
    }

    private static bool TryReadRawInput(ref Utf8JsonReader reader, int index, out RawInput raw, [NotNullWhen(false)] out string? error)
    {
        raw = new RawInput(index);
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            error = $"inputs[{index}] must be an object with name, shape, datatype and data";
            return false;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                raw.Name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("datatype"u8))
            {
                reader.Read();
                raw.HasDatatype = reader.TokenType == JsonTokenType.String;
                raw.Datatype = raw.HasDatatype ? reader.GetString() : null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                reader.Read();
                ReadShape(ref reader, raw);
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                raw.BinarySize = ReadSize(ref reader, "binary_data_size"u8);
            }
            else if (reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    raw.DataStart = reader.TokenStartIndex;
                    reader.Skip();
                    raw.DataEnd = reader.BytesConsumed;
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        error = null;
        return true;
    }

    private static void ReadShape(ref Utf8JsonReader reader, RawInput raw)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return;
        }

        raw.Shape = [];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var dim) && dim >= 0)
            {
                raw.Shape.Add(dim);
                continue;
            }

            if (raw.BadDimension is null)
            {
                raw.BadDimension = RawText(ref reader);
                raw.BadDimensionIndex = raw.Shape.Count;
            }

            reader.Skip();
        }
    }

    private static bool TryReadOutputs(ref Utf8JsonReader reader, out List<string>? outputs, ref BinaryOutputs? binary, [NotNullWhen(false)] out string? error)
    {
        outputs = null;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            error = "'outputs' must be a list of {name}";
            return false;
        }

        outputs = [];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            string? name = null;
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                var inBinary = false;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isName = reader.ValueTextEquals("name"u8);
                    var isParameters = reader.ValueTextEquals("parameters"u8);
                    reader.Read();
                    if (isName && reader.TokenType == JsonTokenType.String)
                    {
                        name = reader.GetString();
                    }
                    else if (isParameters)
                    {
                        inBinary = ReadFlag(ref reader, "binary_data"u8);
                        continue;
                    }

                    reader.Skip();
                }

                if (inBinary && !string.IsNullOrEmpty(name))
                {
                    (binary ??= new BinaryOutputs()).Names.Add(name);
                }
            }
            else
            {
                reader.Skip();
            }

            if (string.IsNullOrEmpty(name))
            {
                error = "each entry of 'outputs' needs a string 'name'";
                return false;
            }

            outputs.Add(name);
        }

        error = null;
        return true;
    }

    private static bool TryDecode(in ReadOnlySequence<byte> body, RawInput raw, [NotNullWhen(true)] out Tensor? tensor, [NotNullWhen(false)] out string? error)
    {
        tensor = null;
        if (string.IsNullOrEmpty(raw.Name))
        {
            error = $"inputs[{raw.Index}] needs a string 'name'";
            return false;
        }

        var name = raw.Name;
        if (!raw.HasDatatype)
        {
            error = $"input '{name}' needs a 'datatype' ({TensorDataTypes.Supported})";
            return false;
        }

        if (!TensorDataTypes.TryParse(raw.Datatype, out var type))
        {
            error = $"input '{name}' has datatype '{raw.Datatype}', which this server does not support ({TensorDataTypes.Supported})";
            return false;
        }

        if (raw.Shape is null || raw.Shape.Count == 0 && raw.BadDimension is null)
        {
            error = $"input '{name}' needs a 'shape': a non-empty list of dimensions";
            return false;
        }

        if (raw.BadDimension is not null)
        {
            error = $"input '{name}' has shape {raw.BadDimension} at dimension {raw.BadDimensionIndex}; dimensions are non-negative integers";
            return false;
        }

        var shape = raw.Shape.ToArray();
        if (!TensorDecoding.TryCount(name, shape, out var count, out error))
        {
            return false;
        }

        if (raw.DataStart < 0)
        {
            error = $"input '{name}' needs 'data': a flat or nested list of numbers";
            return false;
        }

        var data = body.Slice(raw.DataStart, raw.DataEnd - raw.DataStart);
        if (type == TensorDataType.Fp32)
        {
            var values = new float[count];
            if (!TryFill(data, values, static (ref Utf8JsonReader r, out float v) => r.TryGetSingle(out v) && float.IsFinite(v), name, "numbers", count, shape, out error))
            {
                return false;
            }

            tensor = Tensor.FromFloats(name, shape, values);
        }
        else
        {
            var values = new long[count];
            if (!TryFill(data, values, static (ref Utf8JsonReader r, out long v) => r.TryGetInt64(out v), name, "integers", count, shape, out error))
            {
                return false;
            }

            tensor = Tensor.FromInt64s(name, shape, values);
        }

        return true;
    }

    private delegate bool TryGet<T>(ref Utf8JsonReader reader, out T value);

    private static bool TryFill<T>(
        in ReadOnlySequence<byte> data, T[] values, TryGet<T> read, string name, string kind, int count, long[] shape,
        [NotNullWhen(false)] out string? error)
    {
        var reader = new Utf8JsonReader(data);
        var filled = 0;
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.StartArray or JsonTokenType.EndArray)
            {
                continue;
            }

            if (reader.TokenType != JsonTokenType.Number || !read(ref reader, out var v))
            {
                error = $"input '{name}' has {RawText(ref reader)} in 'data'; its datatype takes {kind}";
                return false;
            }

            if (filled < values.Length)
            {
                values[filled] = v;
            }

            filled++;
        }

        error = filled == count ? null : $"input '{name}' has {filled} values in 'data'; shape [{string.Join(",", shape)}] needs {count}";
        return error is null;
    }

    private static string RawText(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.String => $"\"{reader.GetString()}\"",
        JsonTokenType.StartArray => "a list",
        JsonTokenType.StartObject => "an object",
        _ => Encoding.UTF8.GetString(reader.HasValueSequence ? reader.ValueSequence.ToArray() : reader.ValueSpan),
    };
}
