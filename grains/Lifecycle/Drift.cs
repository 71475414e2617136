using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Lifecycle;

/// <summary>
/// A version's reference profile (<c>&lt;model&gt;/&lt;version&gt;/profile.json</c>, written by the training scripts
/// from the training data): for one input, per feature, the bin edges and the share of training rows in each bin.
/// A feature is one column of a [batch, features] FP32 input; a profile of one feature over an INT64 input (token
/// ids) bins every element. Bin i holds values above edge i-1 up to edge i; the last bin holds the rest.
/// </summary>
internal sealed class DriftProfile
{
    [JsonPropertyName("input")]
    public string Input { get; set; } = "";

    [JsonPropertyName("features")]
    public List<FeatureProfile> Features { get; set; } = [];

    public sealed class FeatureProfile
    {
        [JsonPropertyName("name")]
        public string Name { get; set; } = "";

        [JsonPropertyName("edges")]
        public double[] Edges { get; set; } = [];

        [JsonPropertyName("proportions")]
        public double[] Proportions { get; set; } = [];
    }

    /// <summary>Problems that make the profile unusable; empty when it is sound.</summary>
    public IEnumerable<string> Problems()
    {
        if (Features.Count == 0)
        {
            yield return "a profile needs at least one feature";
        }

        foreach (var f in Features.Where(f => f.Proportions.Length != f.Edges.Length + 1 || f.Edges.Zip(f.Edges.Skip(1)).Any(p => p.First >= p.Second)))
        {
            yield return $"feature '{f.Name}' needs ascending edges and one proportion more than edges";
        }
    }

    public long[][] NewCounts() => Features.Select(f => new long[f.Proportions.Length]).ToArray();

    /// <summary>Bins one request's input into <paramref name="counts"/>; false when the request lacks the input.</summary>
    public bool Add(long[][] counts, IReadOnlyList<Tensor> inputs)
    {
        var input = inputs.FirstOrDefault(t => t.Name == Input);
        if (input is null)
        {
            return false;
        }

        if (Features.Count == 1)
        {
            if (input.Fp32 is { } floats)
            {
                foreach (var v in floats)
                {
                    counts[0][Bin(0, v)]++;
                }
            }
            else if (input.Int64 is { } longs)
            {
                foreach (var v in longs)
                {
                    counts[0][Bin(0, v)]++;
                }
            }

            return true;
        }

        if (input.Fp32 is not { } data || data.Length % Features.Count != 0)
        {
            return false;
        }

        for (var i = 0; i < data.Length; i++)
        {
            var f = i % Features.Count;
            counts[f][Bin(f, data[i])]++;
        }

        return true;
    }

    private int Bin(int feature, double value)
    {
        var edges = Features[feature].Edges;
        var i = Array.BinarySearch(edges, value);
        return i >= 0 ? i : ~i;
    }

    /// <summary>
    /// The population stability index of each feature: Σ (live − reference) · ln(live / reference) over its bins,
    /// shares floored at 10⁻⁴ so an empty bin counts as rare rather than impossible.
    /// </summary>
    public double[] Psi(long[][] live)
    {
        const double floor = 1e-4;
        var psi = new double[Features.Count];
        for (var f = 0; f < Features.Count && f < live.Length; f++)
        {
            double total = live[f].Sum();
            if (total == 0)
            {
                continue;
            }

            for (var b = 0; b < Features[f].Proportions.Length && b < live[f].Length; b++)
            {
                var actual = Math.Max(floor, live[f][b] / total);
                var expected = Math.Max(floor, Features[f].Proportions[b]);
                psi[f] += (actual - expected) * Math.Log(actual / expected);
            }
        }

        return psi;
    }

    public static DriftProfile? Read(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        return Parse(File.ReadAllText(path));
    }

    /// <summary>A sound profile from its JSON, or null (a bad profile turns drift off for the version, nothing else).</summary>
    public static DriftProfile? Parse(string json)
    {
        try
        {
            var profile = JsonSerializer.Deserialize<DriftProfile>(json);
            return profile is not null && !profile.Problems().Any() ? profile : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>The silo's reference profiles, read once per version from the repository (null where a version has none).</summary>
internal sealed class DriftProfiles(ModelRepository repository)
{
    public const string FileName = "profile.json";

    private readonly ConcurrentDictionary<(string Model, string Version), DriftProfile?> _profiles = new();

    public DriftProfile? Find(string model, string version) =>
        _profiles.GetOrAdd((model, version), key => repository.Find(key.Model) switch
        {
            { IsRemote: true } or null => null,
            { } m when m.Uploaded.GetValueOrDefault(key.Version)?.Stored.ProfileJson is { } json => DriftProfile.Parse(json),
            { } m => DriftProfile.Read(Path.Combine(m.Folder, key.Version, FileName)),
        });
}

/// <summary>
/// A version's live input histograms over a sliding window of two generations: once the current one holds
/// <c>window</c> rows it becomes the previous one, so the PSI reads the last one to two windows of samples.
/// </summary>
internal sealed class DriftWindow(int window)
{
    private long[][]? _current;
    private long[][]? _previous;

    public long Rows => RowsOf(_current) + RowsOf(_previous);

    public void Add(long[][] counts)
    {
        _current ??= counts.Select(c => new long[c.Length]).ToArray();
        for (var f = 0; f < _current.Length && f < counts.Length; f++)
        {
            for (var b = 0; b < _current[f].Length && b < counts[f].Length; b++)
            {
                _current[f][b] += counts[f][b];
            }
        }

        if (RowsOf(_current) >= window)
        {
            (_previous, _current) = (_current, null);
        }
    }

    public long[][] Combined()
    {
        var parts = new[] { _current, _previous }.Where(p => p is not null).Select(p => p!).ToArray();
        if (parts.Length == 0)
        {
            return [];
        }

        return parts[0].Select((feature, f) => feature.Select((_, b) => parts.Sum(p => p[f][b])).ToArray()).ToArray();
    }

    private static long RowsOf(long[][]? counts) => counts is { Length: > 0 } ? counts[0].Sum() : 0;
}
