using System.Text.Json;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>A model's non-finite outputs are written in one documented form, never as a failure mid-body.</summary>
public sealed class KServeJsonWriterTests
{
    [Fact]
    public void NonFiniteFp32Outputs_AreWrittenAsNamedStrings_InValidJson()
    {
        var response = new InferenceResponse("m", "1", "id-1",
            [Tensor.FromFloats("out", [1, 4], [1.5f, float.NaN, float.PositiveInfinity, float.NegativeInfinity])]);
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            KServeJsonWriter.WriteInferResponse(writer, response);
        }

        using var doc = JsonDocument.Parse(stream.ToArray());
        var data = doc.RootElement.GetProperty("outputs")[0].GetProperty("data");
        Assert.Equal(1.5f, data[0].GetSingle());
        Assert.Equal(["NaN", "Infinity", "-Infinity"], data.EnumerateArray().Skip(1).Select(v => v.GetString()));
    }
}
