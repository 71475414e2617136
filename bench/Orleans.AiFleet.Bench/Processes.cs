using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Orleans.AiFleet.Bench;

/// <summary>Child processes, loopback ports and readiness polling shared by the benchmarks.</summary>
internal static class Processes
{
    public static Process Start(string file, string arguments, Dictionary<string, string> environment)
    {
        var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in environment)
        {
            info.Environment[k] = v;
        }

        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine($"  [server] {e.Data}"); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Waits until GET <paramref name="path"/> succeeds; fails if the server exits or 90 s pass.</summary>
    public static async Task WaitReadyAsync(string name, Process? server, Uri baseUri, string path)
    {
        using var probe = new HttpClient { BaseAddress = baseUri };
        var giveUp = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            try
            {
                if ((await probe.GetAsync(path)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (DateTime.UtcNow > giveUp || server?.HasExited == true)
            {
                throw new InvalidOperationException($"{name} did not become ready");
            }

            await Task.Delay(200);
        }
    }

    public static string FindUp(string name, Func<string, bool> accept)
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, name);
            if (Directory.Exists(candidate) && accept(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"no {name}/ above the working directory");
    }
}
