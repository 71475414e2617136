using System.Buffers;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>KServe v2 (Open Inference Protocol) JSON answers: infer responses and model metadata.</summary>
internal static class KServeJsonWriter
{
    /// <summary>
    /// Writes an infer response whole: serialized into a buffer first, so a failure while writing can never leave a
    /// status line with half a body behind it. Non-finite FP32 values (a model's NaN or overflow) are written as the
    /// JSON strings <c>"NaN"</c>, <c>"Infinity"</c> and <c>"-Infinity"</c>, as System.Text.Json's named literals do.
    /// </summary>
    public static async Task WriteInferResponseAsync(HttpResponse http, InferenceResponse response, CancellationToken cancellationToken, KServeJson.BinaryOutputs? binary = null)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(16 * 1024);
        buffer.ResetWrittenCount();
        using (var w = new Utf8JsonWriter(buffer))
        {
            WriteInferResponse(w, response, binary);
        }

        if (binary is not null && response.Outputs.Any(o => binary.Includes(o.Name)))
        {
            // The binary extension: the JSON header, then each binary output's little-endian bytes in output order.
            var header = buffer.WrittenCount;
            foreach (var t in response.Outputs.Where(o => binary.Includes(o.Name)))
            {
                buffer.Write(t.DataType == TensorDataType.Fp32
                    ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Fp32!.AsSpan())
                    : System.Runtime.InteropServices.MemoryMarshal.AsBytes(t.Int64!.AsSpan()));
            }

            http.ContentType = "application/octet-stream";
            http.Headers[KServeJson.HeaderLengthHeader] = header.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        else
        {
            http.ContentType = "application/json";
        }

        http.ContentLength = buffer.WrittenCount;
        await http.Body.WriteAsync(buffer.WrittenMemory, cancellationToken);
        if (buffer.Capacity > MaxKeptBuffer)
        {
            t_buffer = null; // one huge answer must not pin its buffer to this thread
        }
    }

    private const int MaxKeptBuffer = 1024 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    internal static void WriteInferResponse(Utf8JsonWriter w, InferenceResponse response, KServeJson.BinaryOutputs? binary = null)
    {
        w.WriteStartObject();
        w.WriteString("model_name", response.Model);
        w.WriteString("model_version", response.Version);
        if (response.Id is not null)
        {
            w.WriteString("id", response.Id);
        }

        w.WriteStartArray("outputs");
        foreach (var t in response.Outputs)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("datatype", t.DataType.ToProtocolName());
            w.WriteStartArray("shape");
            foreach (var d in t.Shape)
            {
                w.WriteNumberValue(d);
            }

            w.WriteEndArray();
            if (binary?.Includes(t.Name) == true)
            {
                w.WriteStartObject("parameters");
                w.WriteNumber("binary_data_size", (long)t.Length * (t.DataType == TensorDataType.Fp32 ? 4 : 8));
                w.WriteEndObject();
                w.WriteEndObject();
                continue;
            }

            w.WriteStartArray("data");
            if (t.DataType == TensorDataType.Fp32)
            {
                foreach (var v in t.Fp32!)
                {
                    if (float.IsFinite(v))
                    {
                        w.WriteNumberValue(v);
                    }
                    else
                    {
                        w.WriteStringValue(float.IsNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
                    }
                }
            }
            else
            {
                foreach (var v in t.Int64!)
                {
                    w.WriteNumberValue(v);
                }
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    public static object Metadata(ModelDescriptor model, string? version) => new
    {
        name = model.Name,
        versions = version is null ? model.Versions : [version],
        platform = model.Platform,
        inputs = model.Inputs.Select(Spec),
        outputs = model.Outputs.Select(Spec),
    };

    private static object Spec(TensorSpec t) => new { name = t.Name, datatype = t.DataType.ToProtocolName(), shape = t.Shape };
}
