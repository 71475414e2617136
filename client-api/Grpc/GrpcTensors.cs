using System.Runtime.InteropServices;
using Google.Protobuf;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.ClientApi.Grpc;

/// <summary>
/// KServe v2 gRPC tensors to and from the cluster's <see cref="Tensor"/>: typed contents or little-endian raw bytes,
/// FP32 and INT64, every input bounded by <see cref="KServeJson.MaxElements"/> before anything is allocated, and
/// every bad input refused naming it (the same rules as the JSON reader).
/// </summary>
internal static class GrpcTensors
{
    public static bool TryRead(ModelInferRequest request, out Tensor[] tensors, out string? error)
    {
        tensors = [];
        if (request.Inputs.Count == 0)
        {
            error = "'inputs' is required: at least one tensor";
            return false;
        }

        var raw = request.RawInputContents.Count > 0;
        if (raw && request.RawInputContents.Count != request.Inputs.Count)
        {
            error = $"'raw_input_contents' has {request.RawInputContents.Count} entries for {request.Inputs.Count} inputs; send one per input, or none";
            return false;
        }

        var read = new Tensor[request.Inputs.Count];
        for (var i = 0; i < read.Length; i++)
        {
            var input = request.Inputs[i];
            if (!TryReadOne(input, raw ? request.RawInputContents[i] : null, i, out var tensor, out error))
            {
                return false;
            }

            read[i] = tensor!;
        }

        tensors = read;
        error = null;
        return true;
    }

    private static bool TryReadOne(ModelInferRequest.Types.InferInputTensor input, ByteString? raw, int index, out Tensor? tensor, out string? error)
    {
        tensor = null;
        var name = input.Name;
        if (string.IsNullOrEmpty(name))
        {
            error = $"inputs[{index}] needs a 'name'";
            return false;
        }

        if (!TensorDataTypes.TryParse(input.Datatype, out var type))
        {
            error = $"input '{name}' has datatype '{input.Datatype}', which this server does not support ({TensorDataTypes.Supported})";
            return false;
        }

        if (input.Shape.Count == 0)
        {
            error = $"input '{name}' needs a 'shape': a non-empty list of dimensions";
            return false;
        }

        long count = 1;
        foreach (var d in input.Shape)
        {
            if (d < 0)
            {
                error = $"input '{name}' has a negative dimension ({d}); dimensions are non-negative integers";
                return false;
            }

            count = d == 0 ? 0 : Math.Min(count * Math.Min(d, KServeJson.MaxElements + 1L), KServeJson.MaxElements + 1L);
        }

        if (count > KServeJson.MaxElements)
        {
            error = $"input '{name}' has shape [{string.Join(",", input.Shape)}], more than {KServeJson.MaxElements} elements";
            return false;
        }

        var shape = input.Shape.ToArray();
        var n = (int)count;
        if (raw is not null)
        {
            if (input.Contents is not null && HasAny(input.Contents))
            {
                error = $"input '{name}' has both typed 'contents' and 'raw_input_contents'; send one";
                return false;
            }

            if (raw.Length != (long)n * 4 && type == TensorDataType.Fp32 || raw.Length != (long)n * 8 && type == TensorDataType.Int64)
            {
                error = $"input '{name}' has {raw.Length} bytes of raw contents; shape [{string.Join(",", shape)}] of {input.Datatype} takes {n * (type == TensorDataType.Fp32 ? 4L : 8L)}";
                return false;
            }

            return type == TensorDataType.Fp32 ? TryFloats(name, shape, ReadFloats(raw.Span, n), out tensor, out error) : Longs(name, shape, ReadLongs(raw.Span, n), out tensor, out error);
        }

        var contents = input.Contents;
        if (type == TensorDataType.Fp32)
        {
            var values = contents?.Fp32Contents;
            if (values is null || values.Count != n || HasOthers(contents!, fp32: true))
            {
                error = $"input '{name}' needs {n} values in 'contents.fp32_contents' for shape [{string.Join(",", shape)}] (got {values?.Count ?? 0})";
                return false;
            }

            return TryFloats(name, shape, values.ToArray(), out tensor, out error);
        }

        // INT64 takes int64_contents; int_contents (INT32's field) is accepted as well, widened.
        var longs = contents?.Int64Contents.Count > 0 ? contents.Int64Contents.ToArray() : contents?.IntContents.Select(v => (long)v).ToArray();
        if (longs is null || longs.Length != n || contents!.Fp32Contents.Count > 0)
        {
            error = $"input '{name}' needs {n} values in 'contents.int64_contents' for shape [{string.Join(",", shape)}] (got {longs?.Length ?? 0})";
            return false;
        }

        return Longs(name, shape, longs, out tensor, out error);
    }

    private static bool HasAny(InferTensorContents c) =>
        c.BoolContents.Count + c.IntContents.Count + c.Int64Contents.Count + c.UintContents.Count + c.Uint64Contents.Count
        + c.Fp32Contents.Count + c.Fp64Contents.Count + c.BytesContents.Count > 0;

    private static bool HasOthers(InferTensorContents c, bool fp32) =>
        c.BoolContents.Count + c.IntContents.Count + c.Int64Contents.Count + c.UintContents.Count + c.Uint64Contents.Count
        + c.Fp64Contents.Count + c.BytesContents.Count + (fp32 ? 0 : c.Fp32Contents.Count) > 0;

    // The protocol's raw contents are little-endian, as every platform .NET runs this server on.
    private static float[] ReadFloats(ReadOnlySpan<byte> bytes, int n)
    {
        var values = new float[n];
        bytes.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    private static long[] ReadLongs(ReadOnlySpan<byte> bytes, int n)
    {
        var values = new long[n];
        bytes.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        return values;
    }

    private static bool TryFloats(string name, long[] shape, float[] values, out Tensor? tensor, out string? error)
    {
        for (var i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
            {
                (tensor, error) = (null, $"input '{name}' has a value that is not a finite number at index {i}");
                return false;
            }
        }

        (tensor, error) = (Tensor.FromFloats(name, shape, values), null);
        return true;
    }

    private static bool Longs(string name, long[] shape, long[] values, out Tensor? tensor, out string? error)
    {
        (tensor, error) = (Tensor.FromInt64s(name, shape, values), null);
        return true;
    }

    /// <summary>The cluster's answer as the protocol's response: raw little-endian bytes when asked, typed contents otherwise.</summary>
    public static ModelInferResponse Write(InferenceResponse response, string? id, bool raw)
    {
        var reply = new ModelInferResponse { ModelName = response.Model, ModelVersion = response.Version, Id = id ?? "" };
        foreach (var output in response.Outputs)
        {
            var tensor = new ModelInferResponse.Types.InferOutputTensor { Name = output.Name, Datatype = output.DataType.ToProtocolName() };
            tensor.Shape.AddRange(output.Shape);
            if (raw)
            {
                var bytes = output.DataType == TensorDataType.Fp32
                    ? MemoryMarshal.AsBytes(output.Fp32!.AsSpan()).ToArray()
                    : MemoryMarshal.AsBytes(output.Int64!.AsSpan()).ToArray();
                reply.RawOutputContents.Add(UnsafeByteOperations.UnsafeWrap(bytes));
            }
            else
            {
                tensor.Contents = new InferTensorContents();
                if (output.DataType == TensorDataType.Fp32)
                {
                    tensor.Contents.Fp32Contents.AddRange(output.Fp32!);
                }
                else
                {
                    tensor.Contents.Int64Contents.AddRange(output.Int64!);
                }
            }

            reply.Outputs.Add(tensor);
        }

        return reply;
    }
}
