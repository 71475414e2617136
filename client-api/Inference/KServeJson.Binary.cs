using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>
/// The binary tensor extension (as Triton and KServe define it): a request whose <c>Inference-Header-Content-Length</c>
/// header says how long its JSON part is carries, after it, the raw little-endian bytes of each input whose
/// <c>parameters.binary_data_size</c> is set, in input order; outputs asked for with <c>parameters.binary_data</c>
/// (or all of them, with the request's <c>parameters.binary_data_output</c>) come back the same way.
/// </summary>
internal static partial class KServeJson
{
    public const string HeaderLengthHeader = "Inference-Header-Content-Length";

    /// <summary>The outputs a request wants in binary: all of them, or those named.</summary>
    public sealed class BinaryOutputs
    {
        public static readonly BinaryOutputs All = new() { IsAll = true };

        public bool IsAll { get; private init; }

        public HashSet<string> Names { get; } = new(StringComparer.Ordinal);

        public bool Includes(string output) => IsAll || Names.Contains(output);
    }

    /// <summary>An input's tensor from the binary part of the body, at <paramref name="offset"/>, which it moves past.</summary>
    private static bool TryDecodeBinary(
        in ReadOnlySequence<byte> binary, ref long offset, RawInput raw, [NotNullWhen(true)] out Tensor? tensor, [NotNullWhen(false)] out string? error)
    {
        tensor = null;
        var name = raw.Name;
        if (string.IsNullOrEmpty(name) || !raw.HasDatatype || !TensorDataTypes.TryParse(raw.Datatype, out var type) || raw.Shape is not { Count: > 0 } || raw.BadDimension is not null)
        {
            // Name, datatype and shape are checked, with their messages, as for JSON data.
            return TryDecode(ReadOnlySequence<byte>.Empty, raw, out tensor, out error);
        }

        if (raw.DataStart >= 0)
        {
            error = $"input '{name}' has both 'data' and a 'binary_data_size' parameter; send one";
            return false;
        }

        var shape = raw.Shape.ToArray();
        if (!TensorDecoding.TryCount(name, shape, out var count, out error))
        {
            return false;
        }

        var expected = TensorDecoding.RawBytes(type, count);
        if (raw.BinarySize != expected)
        {
            error = $"input '{name}' has 'binary_data_size' {raw.BinarySize}; shape [{string.Join(",", shape)}] of {raw.Datatype} takes {expected} bytes";
            return false;
        }

        if (binary.Length - offset < raw.BinarySize)
        {
            error = $"input '{name}' needs {raw.BinarySize} bytes of binary data, but only {binary.Length - offset} follow the JSON header";
            return false;
        }

        var bytes = binary.Slice(offset, raw.BinarySize);
        offset += raw.BinarySize;
        return TensorDecoding.TryFromBytes(name, type, shape, count, bytes.IsSingleSegment ? bytes.FirstSpan : bytes.ToArray(), out tensor, out error);
    }

    /// <summary>A non-negative integer parameter of a <c>parameters</c> object; -1 when absent or not one.</summary>
    private static long ReadSize(ref Utf8JsonReader reader, ReadOnlySpan<byte> key)
    {
        var size = -1L;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return size;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var match = reader.ValueTextEquals(key);
            reader.Read();
            if (match && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var v) && v >= 0)
            {
                size = v;
            }

            reader.Skip();
        }

        return size;
    }

    /// <summary>A boolean parameter of a <c>parameters</c> object; false when absent.</summary>
    private static bool ReadFlag(ref Utf8JsonReader reader, ReadOnlySpan<byte> key)
    {
        var flag = false;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return flag;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var match = reader.ValueTextEquals(key);
            reader.Read();
            flag |= match && reader.TokenType == JsonTokenType.True;
            reader.Skip();
        }

        return flag;
    }
}
