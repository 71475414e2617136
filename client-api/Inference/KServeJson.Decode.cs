using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>An input's JSON <c>data</c> decoded, once its datatype and shape are known, straight into an array of the size its shape gives.</summary>
internal static partial class KServeJson
{
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
