using System.Diagnostics;

namespace Orleans.AiFleet.Tests;

/// <summary>Runs one of the project's service scripts (scripts/NAME.sh start) and returns the address it prints.</summary>
internal static class ServiceScript
{
    public static async Task<string> StartAsync(string name)
    {
        var script = Path.Combine(Path.GetDirectoryName(TestRepository.Shipped)!, "scripts", $"{name}.sh");
        using var process = Process.Start(new ProcessStartInfo("bash", $"\"{script}\" start") { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"scripts/{name}.sh start failed: {errors}");
        return output.Trim().Split('\n')[^1];
    }
}
