using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Tensor = Orleans.AiFleet.GrainInterfaces.Inference.Tensor;
using Orleans.AiFleet.GrainInterfaces.Inference;


namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// Tensor stacking for the batcher: which requests can share one run, their inputs stacked along dimension 0 (from
/// pooled buffers), and each output split back into every request's rows.
/// </summary>
internal sealed partial class DynamicBatcher
{
    private static bool CanShareRun(PreparedRequest a, PreparedRequest b)
    {
        if (!a.Outputs.AsSpan().SequenceEqual(b.Outputs))
        {
            return false;
        }

        for (var i = 0; i < a.Inputs.Length; i++)
        {
            if (!a.Inputs[i].Shape.AsSpan(1).SequenceEqual(b.Inputs[i].Shape.AsSpan(1)))
            {
                return false;
            }
        }

        return true;
    }

    private static OrtValue Wrap(Tensor t) => t.DataType == TensorDataType.Fp32
        ? OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, t.Fp32.AsMemory(), t.Shape)
        : OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, t.Int64.AsMemory(), t.Shape);

    private static OrtValue Stack(List<Pending> group, int input, int rows, List<Action> rented)
    {
        var shape = (long[])group[0].Request.Inputs[input].Shape.Clone();
        shape[0] = rows;
        return group[0].Request.Inputs[input].DataType == TensorDataType.Fp32
            ? Stack(group, input, shape, static t => t.Fp32!, rented)
            : Stack(group, input, shape, static t => t.Int64!, rented);
    }

    private static OrtValue Stack<T>(List<Pending> group, int input, long[] shape, Func<Tensor, T[]> data, List<Action> rented)
        where T : unmanaged
    {
        var total = 0;
        foreach (var p in group)
        {
            total += data(p.Request.Inputs[input]).Length;
        }

        var buffer = ArrayPool<T>.Shared.Rent(total);
        rented.Add(() => ArrayPool<T>.Shared.Return(buffer));
        var offset = 0;
        foreach (var p in group)
        {
            var src = data(p.Request.Inputs[input]);
            src.CopyTo(buffer, offset);
            offset += src.Length;
        }

        return OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, total), shape);
    }

    private void Split(List<Pending> group, string[] names, IReadOnlyList<OrtValue> outputs)
    {
        var perRequest = new Tensor[group.Count][];
        for (var r = 0; r < group.Count; r++)
        {
            perRequest[r] = new Tensor[names.Length];
        }

        for (var o = 0; o < names.Length; o++)
        {
            var info = outputs[o].GetTensorTypeAndShape();
            var shape = info.Shape;
            var rowElements = 1L;
            for (var d = 1; d < shape.Length; d++)
            {
                rowElements *= shape[d];
            }

            var offset = 0L;
            for (var r = 0; r < group.Count; r++)
            {
                var rows = _maxBatchRows > 0 ? group[r].Request.Rows : (shape.Length > 0 ? shape[0] : 1);
                var outShape = (long[])shape.Clone();
                if (outShape.Length > 0)
                {
                    outShape[0] = rows;
                }

                var start = (int)(offset * rowElements);
                var length = shape.Length > 0 ? (int)(rows * rowElements) : 1;
                perRequest[r][o] = info.ElementDataType == TensorElementType.Float
                    ? Tensor.FromFloats(names[o], outShape, outputs[o].GetTensorDataAsSpan<float>().Slice(start, length).ToArray())
                    : Tensor.FromInt64s(names[o], outShape, outputs[o].GetTensorDataAsSpan<long>().Slice(start, length).ToArray());
                offset += rows;
            }
        }

        var now = _time.GetTimestamp();
        for (var r = 0; r < group.Count; r++)
        {
            var request = group[r].Request.Request;
            if (group[r].Completion.TrySetResult(new InferenceResponse(_session.Model, _session.Version, request.Id, perRequest[r])))
            {
                Interlocked.Increment(ref _completed);
                Interlocked.Add(ref _residence, now - group[r].EnqueuedAt);
                _metrics.Request(_session.Model, _session.Version, "ok");
            }
        }
    }
}
