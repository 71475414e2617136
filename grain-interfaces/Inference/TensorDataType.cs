namespace Orleans.AiFleet.GrainInterfaces.Inference;

/// <summary>Element types a tensor may carry across the grain boundary. Names follow KServe v2 (FP32, INT64).</summary>
[GenerateSerializer, Alias("aifleet.TensorDataType")]
public enum TensorDataType
{
    /// <summary>32-bit IEEE float (KServe <c>FP32</c>).</summary>
    Fp32 = 0,

    /// <summary>64-bit signed integer (KServe <c>INT64</c>).</summary>
    Int64 = 1,
}

/// <summary>Conversions between <see cref="TensorDataType"/> and the protocol's datatype strings.</summary>
public static class TensorDataTypes
{
    /// <summary>Every datatype string this server accepts, for error messages.</summary>
    public const string Supported = "FP32, INT64";

    /// <summary>The KServe v2 name of a datatype.</summary>
    public static string ToProtocolName(this TensorDataType type) => type switch
    {
        TensorDataType.Fp32 => "FP32",
        TensorDataType.Int64 => "INT64",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>Parses a KServe v2 datatype name (case-sensitive, as the protocol defines them).</summary>
    public static bool TryParse(string? name, out TensorDataType type)
    {
        switch (name)
        {
            case "FP32":
                type = TensorDataType.Fp32;
                return true;
            case "INT64":
                type = TensorDataType.Int64;
                return true;
            default:
                type = default;
                return false;
        }
    }
}
