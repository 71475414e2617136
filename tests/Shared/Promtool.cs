using System.Diagnostics;

namespace Orleans.AiFleet.Tests;

/// <summary>Prometheus' own checker (Debian's <c>prometheus</c> package; scripts/test.sh installs it) run on some text.</summary>
internal static class Promtool
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string input, params string[] args)
    {
        var info = new ProcessStartInfo("promtool")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var promtool = Process.Start(info) ?? throw new InvalidOperationException("promtool did not start (apt-get install prometheus)");
        var stdout = promtool.StandardOutput.ReadToEndAsync();
        var stderr = promtool.StandardError.ReadToEndAsync();
        await promtool.StandardInput.WriteAsync(input);
        promtool.StandardInput.Close();
        await promtool.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (promtool.ExitCode, ((await stdout) + (await stderr)).Trim());
    }
}
