using Microsoft.ML.OnnxRuntime;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Tests;

/// <summary>Direct ONNX Runtime runs of the shipped models, the reference the served outputs must equal.</summary>
internal static class Reference
{
    public static float[] Run(string model, string version, IReadOnlyList<Tensor> inputs, string output)
    {
        using var session = new InferenceSession(Path.Combine(TestRepository.Shipped, model, version, "model.onnx"));
        var values = inputs.Select(t => t.DataType == TensorDataType.Fp32
            ? OrtValue.CreateTensorValueFromMemory(t.Fp32!, t.Shape)
            : OrtValue.CreateTensorValueFromMemory(t.Int64!, t.Shape)).ToArray();
        try
        {
            using var results = session.Run(new RunOptions(), inputs.Select(t => t.Name).ToArray(), values, [output]);
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var v in values)
            {
                v.Dispose();
            }
        }
    }

    public static void AssertClose(float[] expected, float[] actual, float tolerance = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"element {i}: expected {expected[i]}, got {actual[i]}");
        }
    }
}
