using System.Collections.Frozen;
using System.Text.Json;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// A character-level vocabulary (a JSON list of strings): id 0 pads, 1 begins a text, 2 ends it, the rest are single
/// characters. Characters outside it are skipped when encoding.
/// </summary>
internal sealed class CharVocabulary
{
    public const long Begin = 1;
    public const long End = 2;

    private readonly string[] _tokens;
    private readonly FrozenDictionary<char, long> _ids;

    private CharVocabulary(string[] tokens)
    {
        _tokens = tokens;
        _ids = tokens.Select((t, i) => (t, i)).Where(x => x.i > End && x.t.Length == 1).ToFrozenDictionary(x => x.t[0], x => (long)x.i);
    }

    public int Count => _tokens.Length;

    public static CharVocabulary Load(string path) =>
        new(JsonSerializer.Deserialize<string[]>(File.ReadAllText(path)) ?? throw new InvalidDataException($"{path} is not a JSON list of strings"));

    /// <summary>The beginning-of-text id followed by the text's characters, keeping at most the last <paramref name="limit"/>.</summary>
    public long[] Encode(string text, int limit)
    {
        var ids = new List<long>(text.Length + 1) { Begin };
        foreach (var c in text)
        {
            if (_ids.TryGetValue(c, out var id))
            {
                ids.Add(id);
            }
        }

        return ids.Count <= limit ? [.. ids] : [Begin, .. ids.Skip(ids.Count - limit + 1)];
    }

    public string Decode(long id) => id > End && id < _tokens.Length ? _tokens[id] : "";
}
