using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>
/// KServe v2 (Open Inference Protocol) JSON: reads an infer request into the grain contract and writes responses.
/// Only the JSON's own form is checked here; whether the tensors fit the model is the replica's one check.
/// </summary>
internal static class KServeJson
{
    /// <summary>Largest tensor accepted over JSON, in elements.</summary>
    public const int MaxElements = 16 * 1024 * 1024;

    public static bool TryReadInferRequest(
        JsonElement root, string model, string? version,
        [NotNullWhen(true)] out InferenceRequest? request, [NotNullWhen(false)] out string? error)
    {
        request = null;
        if (root.ValueKind != JsonValueKind.Object)
        {
            error = "the request body must be a JSON object with 'inputs'";
            return false;
        }

        string? id = null;
        if (root.TryGetProperty("id", out var idElement))
        {
            if (idElement.ValueKind != JsonValueKind.String)
            {
                error = "'id' must be a string";
                return false;
            }

            id = idElement.GetString();
        }

        if (!root.TryGetProperty("inputs", out var inputsElement) || inputsElement.ValueKind != JsonValueKind.Array || inputsElement.GetArrayLength() == 0)
        {
            error = "'inputs' is required: a non-empty list of {name, shape, datatype, data}";
            return false;
        }

        var inputs = new List<Tensor>(inputsElement.GetArrayLength());
        var index = 0;
        foreach (var input in inputsElement.EnumerateArray())
        {
            if (!TryReadTensor(input, index++, out var tensor, out error))
            {
                return false;
            }

            inputs.Add(tensor);
        }

        List<string>? outputs = null;
        if (root.TryGetProperty("outputs", out var outputsElement))
        {
            if (outputsElement.ValueKind != JsonValueKind.Array)
            {
                error = "'outputs' must be a list of {name}";
                return false;
            }

            outputs = [];
            foreach (var o in outputsElement.EnumerateArray())
            {
                if (o.ValueKind != JsonValueKind.Object || !o.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(n.GetString()))
                {
                    error = "each entry of 'outputs' needs a string 'name'";
                    return false;
                }

                outputs.Add(n.GetString()!);
            }
        }

        request = new InferenceRequest(model, version, inputs, outputs, id);
        error = null;
        return true;
    }

    private static bool TryReadTensor(JsonElement input, int index, [NotNullWhen(true)] out Tensor? tensor, [NotNullWhen(false)] out string? error)
    {
        tensor = null;
        if (input.ValueKind != JsonValueKind.Object)
        {
            error = $"inputs[{index}] must be an object with name, shape, datatype and data";
            return false;
        }

        if (!input.TryGetProperty("name", out var nameElement) || nameElement.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(nameElement.GetString()))
        {
            error = $"inputs[{index}] needs a string 'name'";
            return false;
        }

        var name = nameElement.GetString()!;
        if (!input.TryGetProperty("datatype", out var typeElement) || typeElement.ValueKind != JsonValueKind.String)
        {
            error = $"input '{name}' needs a 'datatype' ({TensorDataTypes.Supported})";
            return false;
        }

        if (!TensorDataTypes.TryParse(typeElement.GetString(), out var type))
        {
            error = $"input '{name}' has datatype '{typeElement.GetString()}', which this server does not support ({TensorDataTypes.Supported})";
            return false;
        }

        if (!TryReadShape(input, name, out var shape, out var count, out error))
        {
            return false;
        }

        if (!input.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
        {
            error = $"input '{name}' needs 'data': a flat or nested list of numbers";
            return false;
        }

        if (type == TensorDataType.Fp32)
        {
            var values = new float[count];
            var filled = 0;
            if (!TryFill(data, values, ref filled, static (JsonElement e, out float v) => e.TryGetSingle(out v), name, "numbers", out error))
            {
                return false;
            }

            if (!CheckCount(name, shape, count, filled, out error))
            {
                return false;
            }

            tensor = Tensor.FromFloats(name, shape, values);
        }
        else
        {
            var values = new long[count];
            var filled = 0;
            if (!TryFill(data, values, ref filled, static (JsonElement e, out long v) => e.TryGetInt64(out v), name, "integers", out error))
            {
                return false;
            }

            if (!CheckCount(name, shape, count, filled, out error))
            {
                return false;
            }

            tensor = Tensor.FromInt64s(name, shape, values);
        }

        return true;
    }

    private static bool TryReadShape(JsonElement input, string name, out long[] shape, out int count, [NotNullWhen(false)] out string? error)
    {
        shape = [];
        count = 0;
        if (!input.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array || shapeElement.GetArrayLength() == 0)
        {
            error = $"input '{name}' needs a 'shape': a non-empty list of dimensions";
            return false;
        }

        shape = new long[shapeElement.GetArrayLength()];
        long product = 1;
        var empty = false;
        var i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
            {
                error = $"input '{name}' has shape {d.GetRawText()} at dimension {i}; dimensions are non-negative integers";
                return false;
            }

            shape[i++] = dim;
            empty |= dim == 0;
            product = dim > MaxElements ? MaxElements + 1L : Math.Min(product * Math.Max(dim, 1), MaxElements + 1L);
        }

        if (product > MaxElements)
        {
            error = $"input '{name}' has shape [{string.Join(",", shape)}], more than {MaxElements} elements";
            return false;
        }

        count = empty ? 0 : (int)product;
        error = null;
        return true;
    }

    private delegate bool TryGet<T>(JsonElement element, out T value);

    private static bool TryFill<T>(JsonElement array, T[] values, ref int filled, TryGet<T> read, string name, string kind, [NotNullWhen(false)] out string? error)
    {
        foreach (var e in array.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.Array)
            {
                if (!TryFill(e, values, ref filled, read, name, kind, out error))
                {
                    return false;
                }

                continue;
            }

            if (e.ValueKind != JsonValueKind.Number || !read(e, out var v))
            {
                error = $"input '{name}' has {e.GetRawText()} in 'data'; its datatype takes {kind}";
                return false;
            }

            if (filled < values.Length)
            {
                values[filled] = v;
            }

            filled++;
        }

        error = null;
        return true;
    }

    private static bool CheckCount(string name, long[] shape, int count, int filled, [NotNullWhen(false)] out string? error)
    {
        error = filled == count ? null : $"input '{name}' has {filled} values in 'data'; shape [{string.Join(",", shape)}] needs {count}";
        return error is null;
    }

    public static async Task WriteInferResponseAsync(HttpResponse http, InferenceResponse response, CancellationToken cancellationToken)
    {
        http.ContentType = "application/json";
        await using (var w = new Utf8JsonWriter(http.BodyWriter))
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
                w.WriteStartArray("data");
                if (t.DataType == TensorDataType.Fp32)
                {
                    foreach (var v in t.Fp32!)
                    {
                        w.WriteNumberValue(v);
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

        await http.BodyWriter.FlushAsync(cancellationToken);
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
