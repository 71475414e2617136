using System.Globalization;
using System.Text.RegularExpressions;

namespace Orleans.AiFleet.Tests;

/// <summary>Reading a Prometheus text scrape: the samples of a series by label, and our own series for promtool.</summary>
internal static partial class Scrape
{
    /// <summary>The sample lines of <paramref name="series"/> whose labels include all of <paramref name="labels"/> (each as <c>name="value"</c>).</summary>
    public static IEnumerable<string> Samples(string scrape, string series, params string[] labels) =>
        scrape.Split('\n').Where(l => l.StartsWith(series + "{", StringComparison.Ordinal) && labels.All(label => l.Contains(label, StringComparison.Ordinal)));

    public static bool Has(string scrape, string series, params string[] labels) => Samples(scrape, series, labels).Any();

    /// <summary>The sum of those samples' values (0 when there are none).</summary>
    public static double Sum(string scrape, string series, params string[] labels) =>
        Samples(scrape, series, labels).Sum(l => double.Parse(SampleValue().Match(l).Groups[1].Value, CultureInfo.InvariantCulture));

    /// <summary>Only our series (<c>aifleet_*</c>, with their HELP and TYPE lines), as promtool reads them.</summary>
    public static string Ours(string scrape) =>
        string.Join('\n', scrape.Split('\n').Where(l => l.StartsWith("aifleet_", StringComparison.Ordinal)
            || l.StartsWith("# HELP aifleet_", StringComparison.Ordinal) || l.StartsWith("# TYPE aifleet_", StringComparison.Ordinal))) + "\n";

    [GeneratedRegex(@"\}\s+(\S+)")]
    private static partial Regex SampleValue();
}
