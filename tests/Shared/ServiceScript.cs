using System.Diagnostics;

namespace Orleans.AiFleet.Tests;

/// <summary>Runs the project's own scripts (scripts/NAME.sh), as a user would.</summary>
internal static class ServiceScript
{
    /// <summary>scripts/NAME.sh start, returning the address it prints last.</summary>
    public static async Task<string> StartAsync(string name) => (await RunAsync(name, ["start"])).Trim().Split('\n')[^1];

    /// <summary>Runs scripts/NAME.sh with the arguments and extra environment; fails the test on a non-zero exit.</summary>
    public static async Task<string> RunAsync(string name, string[] arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var script = Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, "scripts", $"{name}.sh");
        var start = new ProcessStartInfo("bash", [script, .. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"scripts/{name}.sh {string.Join(' ', arguments)} failed ({process.ExitCode}): {await errors}{output}");
        return output;
    }
}
