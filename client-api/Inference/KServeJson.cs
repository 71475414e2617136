using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Orleans.AiFleet.ClientApi.Apis;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>
/// KServe v2 (Open Inference Protocol) JSON: reads an infer request into the grain contract (the answers are
/// written by <see cref="KServeJsonWriter"/>).
/// Only the JSON's own form is checked here; whether the tensors fit the model is the replica's one check.
/// </summary>
internal static partial class KServeJson
{
    /// <summary>Largest tensor accepted over JSON, in elements.</summary>
    public const int MaxElements = 16 * 1024 * 1024;

    private const string InputsRequired = "'inputs' is required: a non-empty list of {name, shape, datatype, data}";

    /// <summary>
    /// Reads an infer request straight from the body's bytes with <see cref="Utf8JsonReader"/>: no document tree, and
    /// each tensor's numbers go directly into an array of the size its shape gives. Fields may come in any order, so
    /// a tensor's <c>data</c> is located first and decoded once its datatype and shape are known.
    /// </summary>
    public static bool TryReadInferRequest(
        in ReadOnlySequence<byte> body, string model, string? version,
        [NotNullWhen(true)] out InferenceRequest? request, [NotNullWhen(false)] out string? error) =>
        TryReadInferRequest(body, ReadOnlySequence<byte>.Empty, model, version, out request, out _, out error);

    /// <summary>
    /// The same, for the binary tensor extension: <paramref name="body"/> is the JSON header and
    /// <paramref name="binary"/> the bytes after it, holding in order the inputs whose <c>binary_data_size</c>
    /// parameter says so. <paramref name="binaryOutputs"/>: the outputs to answer in binary (null: none).
    /// </summary>
    public static bool TryReadInferRequest(
        in ReadOnlySequence<byte> body, in ReadOnlySequence<byte> binary, string model, string? version,
        [NotNullWhen(true)] out InferenceRequest? request, out BinaryOutputs? binaryOutputs, [NotNullWhen(false)] out string? error)
    {
        request = null;
        binaryOutputs = null;
        if (body.IsEmpty)
        {
            error = "the request body is empty; send a JSON object with 'inputs'";
            return false;
        }

        try
        {
            return TryRead(body, binary, model, version, out request, out binaryOutputs, out error);
        }
        catch (JsonException e)
        {
            error = $"the request body is not valid JSON: {e.Message}";
            return false;
        }
    }

    private static bool TryRead(
        in ReadOnlySequence<byte> body, in ReadOnlySequence<byte> binary, string model, string? version,
        [NotNullWhen(true)] out InferenceRequest? request, out BinaryOutputs? binaryOutputs, [NotNullWhen(false)] out string? error)
    {
        request = null;
        binaryOutputs = null;
        var allBinary = false;
        var reader = new Utf8JsonReader(body);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            while (reader.Read())
            {
            }

            error = "the request body must be a JSON object with 'inputs'";
            return false;
        }

        string? id = null;
        List<RawInput>? inputs = null;
        List<string>? outputs = null;
        Priority? priority = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    error = "'id' must be a string";
                    return false;
                }

                // Bounded before it is decoded: at most 4 UTF-8 bytes a character (an escape takes 6 for 1 or 2).
                if ((reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length) > InputBounds.MaxClientIdLength * 6
                    || !InputBounds.IsClientId(id = reader.GetString()))
                {
                    error = InputBounds.ClientIdRule;
                    return false;
                }
            }
            else if (reader.ValueTextEquals("inputs"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    error = InputsRequired;
                    return false;
                }

                inputs = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (!TryReadRawInput(ref reader, inputs.Count, out var raw, out error))
                    {
                        return false;
                    }

                    inputs.Add(raw);
                }
            }
            else if (reader.ValueTextEquals("outputs"u8))
            {
                reader.Read();
                if (!TryReadOutputs(ref reader, out outputs, ref binaryOutputs, out error))
                {
                    return false;
                }
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                if (!TryReadParameters(ref reader, out allBinary, out priority, out error))
                {
                    return false;
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        while (reader.Read())
        {
            // Reading to the end makes the reader reject anything after the object.
        }

        if (inputs is not { Count: > 0 })
        {
            error = InputsRequired;
            return false;
        }

        var tensors = new Tensor[inputs.Count];
        long offset = 0;
        for (var i = 0; i < tensors.Length; i++)
        {
            if (!(inputs[i].BinarySize >= 0
                    ? TryDecodeBinary(binary, ref offset, inputs[i], out tensors[i]!, out error)
                    : TryDecode(body, inputs[i], out tensors[i]!, out error)))
            {
                return false;
            }
        }

        if (offset != binary.Length)
        {
            error = $"the binary part of the body has {binary.Length} bytes; the inputs' 'binary_data_size' parameters add up to {offset}";
            return false;
        }

        if (allBinary)
        {
            binaryOutputs = BinaryOutputs.All;
        }

        request = new InferenceRequest(model, version, tensors, outputs, id, Priority: priority);
        error = null;
        return true;
    }
}
