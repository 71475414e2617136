using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// Every curl example in the README runs, in order, against the embedded default, with real curl: so the README
/// cannot drift from what the server does. <c>$KEY</c> is the admin key; each curl fails the run on an HTTP error.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed partial class ReadmeExamplesTests(ApiFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task EveryCurlExampleInTheReadme_RunsAgainstTheEmbeddedDefault()
    {
        var readme = await File.ReadAllTextAsync(Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, "README.md"));
        var blocks = BashBlock().Matches(readme).Select(m => m.Groups[1].Value).Where(b => b.Contains("curl ", StringComparison.Ordinal)).ToArray();
        Assert.True(blocks.Length >= 6, $"expected the README's curl examples, found {blocks.Length} blocks");

        var script = string.Join("\n", blocks)
            .Replace("http://127.0.0.1:5080", fixture.BaseAddress.ToString().TrimEnd('/'), StringComparison.Ordinal)
            .Replace("curl -s", "curl --fail-with-body --max-time 120 -s", StringComparison.Ordinal);
        script = string.Join("\n", script.Split('\n').Where(line => !line.StartsWith("export KEY=", StringComparison.Ordinal)));
        var folder = Directory.CreateTempSubdirectory("aifleet-readme-").FullName;
        File.CreateSymbolicLink(Path.Combine(folder, "models"), TestRepository.Shipped); // the examples run from a clone's root
        await File.WriteAllTextAsync(Path.Combine(folder, "examples.sh"), "set -euo pipefail\n" + script + "\n");

        var bash = new ProcessStartInfo("bash", ["-x", "examples.sh"])
        {
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["KEY"] = TestKeys.Admin },
        };
        using var run = Process.Start(bash)!;
        var stdout = run.StandardOutput.ReadToEndAsync();
        var stderr = run.StandardError.ReadToEndAsync();
        await run.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(5));
        output.WriteLine(await stdout);
        output.WriteLine(await stderr);

        Assert.True(run.ExitCode == 0, $"a README example failed (exit {run.ExitCode}):\n{Tail(await stderr)}\n{Tail(await stdout)}");
        Assert.Contains("\"model_name\":\"digits\"", await stdout, StringComparison.Ordinal);
        Assert.Contains("event: end", await stdout, StringComparison.Ordinal); // the course job ran to its end
    }

    private static string Tail(string text) => text.Length > 2000 ? text[^2000..] : text;

    [GeneratedRegex("```bash\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex BashBlock();
}
