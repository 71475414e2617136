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

        foreach (var d in input.Shape)
        {
            if (d < 0)
            {
                error = $"input '{name}' has a negative dimension ({d}); dimensions are non-negative integers";
                return false;
            }
        }

        var shape = input.Shape.ToArray();
        if (!TensorDecoding.TryCount(name, shape, out var n, out error))
        {
            return false;
        }

        if (raw is not null)
        {
            if (input.Contents is not null && HasValues(input.Contents, countFp32: true))
            {
                error = $"input '{name}' has both typed 'contents' and 'raw_input_contents'; send one";
                return false;
            }

            var expected = TensorDecoding.RawBytes(type, n);
            if (raw.Length != expected)
            {
                error = $"input '{name}' has {raw.Length} bytes of raw contents; shape [{string.Join(",", shape)}] of {input.Datatype} takes {expected}";
                return false;
            }

            return TensorDecoding.TryFromBytes(name, type, shape, n, raw.Span, out tensor, out error);
        }

        var contents = input.Contents;
        if (type == TensorDataType.Fp32)
        {
            var values = contents?.Fp32Contents;
            if (values is null || values.Count != n || HasValues(contents!, countFp32: false))
            {
                error = $"input '{name}' needs {n} values in 'contents.fp32_contents' for shape [{string.Join(",", shape)}] (got {values?.Count ?? 0})";
                return false;
            }

            return TensorDecoding.TryFloats(name, shape, values.ToArray(), out tensor, out error);
        }

        // INT64 takes int64_contents; int_contents (INT32's field) is accepted as well, widened.
        var longs = contents?.Int64Contents.Count > 0 ? contents.Int64Contents.ToArray() : contents?.IntContents.Select(v => (long)v).ToArray();
        if (longs is null || longs.Length != n || contents!.Fp32Contents.Count > 0)
        {
            error = $"input '{name}' needs {n} values in 'contents.int64_contents' for shape [{string.Join(",", shape)}] (got {longs?.Length ?? 0})";
            return false;
        }

        (tensor, error) = (Tensor.FromInt64s(name, shape, longs), null);
        return true;
    }

    /// <summary>Whether <paramref name="c"/> holds any values, FP32 ones counted only when <paramref name="countFp32"/>.</summary>
    private static bool HasValues(InferTensorContents c, bool countFp32) =>
        c.BoolContents.Count + c.IntContents.Count + c.Int64Contents.Count + c.UintContents.Count + c.Uint64Contents.Count
        + c.Fp64Contents.Count + c.BytesContents.Count + (countFp32 ? c.Fp32Contents.Count : 0) > 0;

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
