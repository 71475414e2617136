using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>
/// The checks every tensor reader shares (JSON, the binary HTTP extension, gRPC): a shape's element count bounded by
/// <see cref="KServeJson.MaxElements"/> before anything is allocated, and raw little-endian bytes decoded into a
/// tensor whose FP32 values must be finite.
/// </summary>
internal static class TensorDecoding
{
    /// <summary>The number of elements of <paramref name="shape"/> (the caller has checked its dimensions are not negative).</summary>
    public static bool TryCount(string name, IReadOnlyList<long> shape, out int count, [NotNullWhen(false)] out string? error)
    {
        long product = 1;
        foreach (var d in shape)
        {
            product = d == 0 ? 0 : Math.Min(product * Math.Min(d, KServeJson.MaxElements + 1L), KServeJson.MaxElements + 1L);
        }

        if (product > KServeJson.MaxElements)
        {
            (count, error) = (0, $"input '{name}' has shape [{string.Join(",", shape)}], more than {KServeJson.MaxElements} elements");
            return false;
        }

        (count, error) = ((int)product, null);
        return true;
    }

    /// <summary>Bytes a tensor of <paramref name="count"/> elements takes raw.</summary>
    public static long RawBytes(TensorDataType type, int count) => (long)count * (type == TensorDataType.Fp32 ? 4 : 8);

    /// <summary>
    /// A tensor from its raw little-endian bytes, which the caller has checked are <see cref="RawBytes"/> long (the
    /// protocol's byte order, and that of every platform .NET runs this server on).
    /// </summary>
    public static bool TryFromBytes(
        string name, TensorDataType type, long[] shape, int count, ReadOnlySpan<byte> bytes, [NotNullWhen(true)] out Tensor? tensor, [NotNullWhen(false)] out string? error)
    {
        if (type == TensorDataType.Fp32)
        {
            var values = new float[count];
            bytes.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
            return TryFloats(name, shape, values, out tensor, out error);
        }

        var longs = new long[count];
        bytes.CopyTo(MemoryMarshal.AsBytes(longs.AsSpan()));
        (tensor, error) = (Tensor.FromInt64s(name, shape, longs), null);
        return true;
    }

    /// <summary>An FP32 tensor, refused when a value is NaN or infinite (JSON cannot carry those either).</summary>
    public static bool TryFloats(string name, long[] shape, float[] values, [NotNullWhen(true)] out Tensor? tensor, [NotNullWhen(false)] out string? error)
    {
        var bad = Array.FindIndex(values, v => !float.IsFinite(v));
        if (bad >= 0)
        {
            (tensor, error) = (null, $"input '{name}' has a value that is not a finite number at index {bad}");
            return false;
        }

        (tensor, error) = (Tensor.FromFloats(name, shape, values), null);
        return true;
    }
}
