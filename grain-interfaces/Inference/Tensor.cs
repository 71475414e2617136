namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>
/// A named, row-major tensor. Exactly one of <see cref="Fp32"/> or <see cref="Int64"/> holds the data, matching
/// <see cref="DataType"/>. Immutable once built: Orleans passes it between local grains without copying.
/// </summary>
[GenerateSerializer, Immutable, Alias("aifleet.Tensor")]
public sealed record Tensor(
    [property: Id(0)] string Name,
    [property: Id(1)] TensorDataType DataType,
    [property: Id(2)] long[] Shape,
    [property: Id(3)] float[]? Fp32,
    [property: Id(4)] long[]? Int64)
{
    /// <summary>A float tensor.</summary>
    public static Tensor FromFloats(string name, long[] shape, float[] data) => new(name, TensorDataType.Fp32, shape, data, null);

    /// <summary>An int64 tensor.</summary>
    public static Tensor FromInt64s(string name, long[] shape, long[] data) => new(name, TensorDataType.Int64, shape, null, data);

    /// <summary>The number of elements the data array holds.</summary>
    public int Length => DataType == TensorDataType.Fp32 ? Fp32?.Length ?? 0 : Int64?.Length ?? 0;

    /// <summary>The product of <see cref="Shape"/>; -1 when it overflows.</summary>
    public long ShapeElementCount()
    {
        long count = 1;
        foreach (var d in Shape)
        {
            if (d < 0)
            {
                return -1;
            }

            try
            {
                count = checked(count * d);
            }
            catch (OverflowException)
            {
                return -1;
            }
        }

        return count;
    }
}
