using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Inference;

/// <summary>The infer request's fields as the reader meets them: an input's name, datatype, shape, data and parameters, and the outputs wanted.</summary>
internal static partial class KServeJson
{
    /// <summary>An input as found in the body: its fields, with its data located but not yet decoded.</summary>
    private sealed class RawInput(int index)
    {
        public int Index { get; } = index;
        public string? Name { get; set; }
        public string? Datatype { get; set; }
        public bool HasDatatype { get; set; }
        public List<long>? Shape { get; set; }
        public string? BadDimension { get; set; }
        public int BadDimensionIndex { get; set; }
        public long DataStart { get; set; } = -1;
        public long DataEnd { get; set; }

        /// <summary>The <c>binary_data_size</c> parameter: its bytes are in the binary part of the body; -1 when absent.</summary>
        public long BinarySize { get; set; } = -1;
    }

    private static bool TryReadRawInput(ref Utf8JsonReader reader, int index, out RawInput raw, [NotNullWhen(false)] out string? error)
    {
        raw = new RawInput(index);
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            error = $"inputs[{index}] must be an object with name, shape, datatype and data";
            return false;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                raw.Name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("datatype"u8))
            {
                reader.Read();
                raw.HasDatatype = reader.TokenType == JsonTokenType.String;
                raw.Datatype = raw.HasDatatype ? reader.GetString() : null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                reader.Read();
                ReadShape(ref reader, raw);
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                raw.BinarySize = ReadSize(ref reader, "binary_data_size"u8);
            }
            else if (reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    raw.DataStart = reader.TokenStartIndex;
                    reader.Skip();
                    raw.DataEnd = reader.BytesConsumed;
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        error = null;
        return true;
    }

    private static void ReadShape(ref Utf8JsonReader reader, RawInput raw)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            reader.Skip();
            return;
        }

        raw.Shape = [];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var dim) && dim >= 0)
            {
                raw.Shape.Add(dim);
                continue;
            }

            if (raw.BadDimension is null)
            {
                raw.BadDimension = RawText(ref reader);
                raw.BadDimensionIndex = raw.Shape.Count;
            }

            reader.Skip();
        }
    }

    private static bool TryReadOutputs(ref Utf8JsonReader reader, out List<string>? outputs, ref BinaryOutputs? binary, [NotNullWhen(false)] out string? error)
    {
        outputs = null;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            error = "'outputs' must be a list of {name}";
            return false;
        }

        outputs = [];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            string? name = null;
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                var inBinary = false;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isName = reader.ValueTextEquals("name"u8);
                    var isParameters = reader.ValueTextEquals("parameters"u8);
                    reader.Read();
                    if (isName && reader.TokenType == JsonTokenType.String)
                    {
                        name = reader.GetString();
                    }
                    else if (isParameters)
                    {
                        inBinary = ReadFlag(ref reader, "binary_data"u8);
                        continue;
                    }

                    reader.Skip();
                }

                if (inBinary && !string.IsNullOrEmpty(name))
                {
                    (binary ??= new BinaryOutputs()).Names.Add(name);
                }
            }
            else
            {
                reader.Skip();
            }

            if (string.IsNullOrEmpty(name))
            {
                error = "each entry of 'outputs' needs a string 'name'";
                return false;
            }

            outputs.Add(name);
        }

        error = null;
        return true;
    }

    /// <summary>
    /// The request's <c>parameters</c>: <c>binary_data_output</c> (binary extension) and <c>priority</c> (<c>low</c>,
    /// <c>normal</c> or <c>high</c>: the lane asked for; the user's tier caps it). Others are ignored.
    /// </summary>
    private static bool TryReadParameters(ref Utf8JsonReader reader, out bool allBinary, out Priority? priority, [NotNullWhen(false)] out string? error)
    {
        (allBinary, priority, error) = (false, null, null);
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return true;
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isBinary = reader.ValueTextEquals("binary_data_output"u8);
            var isPriority = reader.ValueTextEquals("priority"u8);
            reader.Read();
            if (isPriority)
            {
                if (reader.TokenType != JsonTokenType.String || !Priorities.TryParse(reader.GetString(), out var asked))
                {
                    error = $"'parameters.priority' must be one of {Priorities.List}";
                    return false;
                }

                priority = asked;
            }

            allBinary |= isBinary && reader.TokenType == JsonTokenType.True;
            reader.Skip();
        }

        return true;
    }
}
