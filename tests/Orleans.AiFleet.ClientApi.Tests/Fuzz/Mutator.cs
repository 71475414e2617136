using System.Text;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests.Fuzz;

/// <summary>
/// Structure-aware mutations of valid JSON bodies: one field at a time gets another type, an extreme number, a huge
/// or hostile string, deep nesting, a long array, or disappears; fields are added and duplicated; and a share of cases
/// break the encoding itself (truncated, invalid UTF-8, not JSON). Deterministic for a seed.
/// </summary>
internal sealed class Mutator(int seed)
{
    private readonly Random _random = new(seed);

    private static readonly string[] Strings =
    [
        "", " ", "\u0000", "\\", "\"", "null", "NaN", "-1", "1e309", "../../etc/passwd", "<script>alert(1)</script>",
        "%00%ff", "\ud83d\ude00", "\u202e", "\n", "\t", "\u00e9", "\u0001", "auto", "digits", "text-encoder", "chat-lm", "user", "system", "base64", "float",
    ];

    private static readonly JsonNode?[] Numbers =
    [
        0, -1, 1, 2, int.MaxValue, int.MinValue, long.MaxValue, long.MinValue, 1e308, -1e308, 1e-320, 0.5, -0.0, 4096, 65536, 1e9,
    ];

    public int Next(int max) => _random.Next(max);

    /// <summary>A mutated copy of <paramref name="seedBody"/>, as the bytes to send.</summary>
    public byte[] Mutate(JsonNode seedBody)
    {
        var roll = _random.Next(100);
        if (roll < 8)
        {
            return Encoding(seedBody.ToJsonString());
        }

        var body = seedBody.DeepClone();
        var mutations = 1 + _random.Next(3);
        for (var i = 0; i < mutations; i++)
        {
            body = MutateSomewhere(body);
        }

        return Bytes(body);
    }

    /// <summary>A node as JSON bytes, however deep the mutations nested it (the serializer's own limit is 64).</summary>
    private static byte[] Bytes(JsonNode? node)
    {
        using var stream = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { MaxDepth = 4096 }))
        {
            if (node is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                node.WriteTo(writer);
            }
        }

        return stream.ToArray();
    }

    /// <summary>A hostile string for a path segment, a query value or a header.</summary>
    public string HostileText() => _random.Next(6) switch
    {
        0 => new string((char)('a' + _random.Next(26)), 1 + _random.Next(3000)),
        1 => Strings[_random.Next(Strings.Length)],
        2 => Uri.EscapeDataString(Strings[_random.Next(Strings.Length)]),
        3 => string.Concat(Enumerable.Range(0, 1 + _random.Next(40)).Select(_ => (char)_random.Next(32, 127))),
        4 => "x" + _random.Next(),
        _ => "%2e%2e%2f" + new string('/', _random.Next(5)),
    };

    private JsonNode? MutateSomewhere(JsonNode? node)
    {
        var slots = new List<(JsonNode Parent, object Key)>();
        Collect(node, slots);
        if (slots.Count == 0 || _random.Next(20) == 0)
        {
            return Replace(node);
        }

        var (parent, key) = slots[_random.Next(slots.Count)];
        switch (parent)
        {
            case JsonObject o when key is string name:
                switch (_random.Next(5))
                {
                    case 0: o.Remove(name); break;
                    case 1: o[name + (_random.Next(2) == 0 ? "" : "_x")] = Replace(o[name]); break;
                    default: o[name] = Replace(o[name]); break;
                }

                if (_random.Next(10) == 0)
                {
                    o["unknown_" + _random.Next(100)] = Replace(null);
                }

                break;
            case JsonArray a when key is int index:
                if (_random.Next(4) == 0)
                {
                    a.RemoveAt(index);
                }
                else
                {
                    a[index] = Replace(a[index]);
                }

                break;
        }

        return node;
    }

    private static void Collect(JsonNode? node, List<(JsonNode, object)> slots)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, child) in o.ToArray())
                {
                    slots.Add((o, name));
                    Collect(child, slots);
                }

                break;
            case JsonArray a:
                for (var i = 0; i < Math.Min(a.Count, 8); i++)
                {
                    slots.Add((a, i));
                    Collect(a[i], slots);
                }

                break;
        }
    }

    /// <summary>Something else where a value was: another type, an extreme, a size, a nesting.</summary>
    private JsonNode? Replace(JsonNode? was) => _random.Next(12) switch
    {
        0 => null,
        1 => JsonValue.Create(_random.Next(2) == 0),
        2 => Numbers[_random.Next(Numbers.Length)]?.DeepClone(),
        3 => JsonValue.Create(Strings[_random.Next(Strings.Length)]),
        4 => JsonValue.Create(new string('x', _random.Next(2) == 0 ? 300 : 70_000)),
        5 => new JsonObject(),
        6 => new JsonArray(),
        7 => Nested(1 + _random.Next(80)),
        8 => new JsonArray(Enumerable.Range(0, _random.Next(2) == 0 ? 5 : 5000).Select(i => (JsonNode?)JsonValue.Create(i)).ToArray()),
        9 => new JsonArray(JsonValue.Create("a"), JsonValue.Create(1), null, new JsonObject()),
        10 => was is JsonArray { Count: > 0 } a ? a[0]?.DeepClone() : new JsonArray(was?.DeepClone()),
        _ => JsonValue.Create(_random.NextDouble() * Math.Pow(10, _random.Next(-10, 40)) * (_random.Next(2) == 0 ? 1 : -1)),
    };

    private static JsonNode Nested(int depth)
    {
        JsonNode node = new JsonArray();
        for (var i = 0; i < depth; i++)
        {
            node = i % 2 == 0 ? new JsonArray(node) : new JsonObject { ["a"] = node };
        }

        return node;
    }

    /// <summary>The right text, broken as bytes: truncated, invalid UTF-8, trailing junk, not JSON at all.</summary>
    private byte[] Encoding(string json)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(json);
        return _random.Next(6) switch
        {
            0 => bytes[..Math.Max(0, _random.Next(bytes.Length))],
            1 => [.. bytes.Take(bytes.Length / 2), 0xC3, 0x28, 0xFF, .. bytes.Skip(bytes.Length / 2)],
            2 => [.. bytes, .. System.Text.Encoding.UTF8.GetBytes(" junk")],
            3 => System.Text.Encoding.UTF8.GetBytes("key=value&x=1"),
            4 => [0xEF, 0xBB, 0xBF, .. bytes],
            _ => new StringBuilder().Append('[', 2000).ToString().Select(c => (byte)c).ToArray(),
        };
    }
}
