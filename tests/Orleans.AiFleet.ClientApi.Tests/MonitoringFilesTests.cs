using System.Text.Json;
using System.Text.RegularExpressions;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// monitoring/: the alert rules pass promtool's check and their unit tests, and every series the rules and the
/// Grafana dashboard name is one the product defines (ours) or exports (Orleans').
/// </summary>
[Collection(ApiCollection.Name)]
public sealed partial class MonitoringFilesTests(ApiFixture fixture)
{
    private static readonly string Root = Path.GetDirectoryName(TestRepository.Shipped)!;

    private static readonly string Folder = Path.Combine(Root, "monitoring");

    [Fact]
    public async Task AlertRules_PassPromtoolCheckAndTheirUnitTests()
    {
        var (checkExit, check) = await Promtool.RunAsync("", "check", "rules", Path.Combine(Folder, "alerts.yaml"));
        Assert.True(checkExit == 0, check);
        Assert.Contains("SUCCESS: 7 rules found", check);

        var (testExit, test) = await Promtool.RunAsync("", "test", "rules", Path.Combine(Folder, "alerts.test.yaml"));
        Assert.True(testExit == 0, test);
        Assert.Contains("SUCCESS", test);
    }

    [Fact]
    public async Task RulesAndDashboard_NameOnlySeriesThatExist()
    {
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Folder, "grafana-dashboard.json")));
        var dashboardExprs = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!))
            .ToArray();
        Assert.True(dashboardExprs.Length >= 10, $"{dashboardExprs.Length} queries");
        var named = SeriesName().Matches(string.Join('\n', dashboardExprs) + await File.ReadAllTextAsync(Path.Combine(Folder, "alerts.yaml")))
            .Select(m => m.Value).ToHashSet(StringComparer.Ordinal);

        var defined = await DefinedByUsAsync();
        var exported = await fixture.Http.GetStringAsync("/metrics");
        var unknown = named.Where(n => n.StartsWith("aifleet_", StringComparison.Ordinal)
                ? !defined.Contains(BaseName(n))
                : !exported.Contains($"# TYPE {n} ", StringComparison.Ordinal))
            .ToArray();

        Assert.True(named.Count >= 10, string.Join(", ", named));
        Assert.True(unknown.Length == 0, $"series no one defines or exports: {string.Join(", ", unknown)}");
    }

    /// <summary>Our instruments' names as Prometheus writes them before suffixes (dots to underscores), from the grains' source.</summary>
    private static async Task<HashSet<string>> DefinedByUsAsync()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, "grains"), "*.cs", SearchOption.AllDirectories))
        {
            foreach (Match m in InstrumentName().Matches(await File.ReadAllTextAsync(file)))
            {
                names.Add(m.Groups[1].Value.Replace('.', '_'));
            }
        }

        return names;
    }

    /// <summary>A series' instrument: without the histogram's part, the counter's <c>_total</c> and the unit <c>_seconds</c>.</summary>
    private static string BaseName(string series)
    {
        foreach (var suffix in new[] { "_bucket", "_sum", "_count", "_total", "_seconds" })
        {
            if (series.EndsWith(suffix, StringComparison.Ordinal))
            {
                series = series[..^suffix.Length];
            }
        }

        return series;
    }

    [GeneratedRegex(@"\b(?:aifleet|orleans)_[a-z_]+")]
    private static partial Regex SeriesName();

    [GeneratedRegex(@"Create(?:Counter|Histogram|ObservableGauge|UpDownCounter)(?:<\w+>)?\(\s*""(aifleet\.[a-z_.]+)""")]
    private static partial Regex InstrumentName();
}
