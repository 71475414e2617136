using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Tests;

/// <summary>Held-out samples shipped beside the models (never trained on).</summary>
internal static class Samples
{
    private static readonly Lazy<(float[][] Pixels, int[] Labels)> DigitSet = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestRepository.Shipped, "digits", "samples.json")));
        var pixels = doc.RootElement.GetProperty("pixels").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        var labels = doc.RootElement.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        return (pixels, labels);
    });

    private static readonly Lazy<long[][]> TokenSet = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestRepository.Shipped, "text-encoder", "samples.json")));
        return doc.RootElement.GetProperty("inputIds").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
    });

    private static readonly Lazy<(float[][] Pixels, int[] Labels)> HeldOutSet = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestRepository.Shipped, "digits", "heldout.json")));
        var pixels = doc.RootElement.GetProperty("pixels").EnumerateArray()
            .Select(row => row.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
        var labels = doc.RootElement.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        return (pixels, labels);
    });

    /// <summary>Every held-out digit (models/digits/heldout.json, 450 images), for accuracy from feedback.</summary>
    public static int HeldOutCount => HeldOutSet.Value.Labels.Length;

    public static int HeldOutLabel(int i) => HeldOutSet.Value.Labels[i % HeldOutCount];

    /// <summary>Held-out image <paramref name="i"/> as a [1, 64] tensor, each pixel through <paramref name="shift"/> when given.</summary>
    public static Tensor HeldOutPixels(int i, Func<float, float>? shift = null) =>
        Tensor.FromFloats("pixels", [1, 64], HeldOutSet.Value.Pixels[i % HeldOutCount].Select(p => shift?.Invoke(p) ?? p).ToArray());

    public static int DigitCount => DigitSet.Value.Labels.Length;

    public static int Label(int i) => DigitSet.Value.Labels[i];

    /// <summary>Rows <paramref name="first"/>.. of the digit samples as one [rows, 64] tensor.</summary>
    public static Tensor Pixels(int first, int rows = 1) =>
        Tensor.FromFloats("pixels", [rows, 64], DigitSet.Value.Pixels.Skip(first).Take(rows).SelectMany(r => r).ToArray());

    public static InferenceRequest Digit(string model, int first, int rows = 1, string? version = null, params string[] outputs) =>
        new(model, version, [Pixels(first, rows)], outputs.Length > 0 ? outputs : null);

    public static long[] TokenIds(int i) => TokenSet.Value[i % TokenSet.Value.Length];

    /// <summary>A [1, n] encoder request for sample <paramref name="i"/> truncated to <paramref name="length"/> tokens.</summary>
    public static InferenceRequest Sentence(int i, int length, params string[] outputs)
    {
        var ids = TokenIds(i).Take(length).ToArray();
        return new InferenceRequest("text-encoder", null,
            [Tensor.FromInt64s("input_ids", [1, ids.Length], ids), Tensor.FromInt64s("attention_mask", [1, ids.Length], ids.Select(_ => 1L).ToArray())],
            outputs.Length > 0 ? outputs : null);
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var i = 1; i < row.Length; i++)
        {
            if (row[i] > row[best])
            {
                best = i;
            }
        }

        return best;
    }
}
