using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// Closed-loop HTTP load from wrk (Debian's package): N connections over loopback, each sending the same request as
/// soon as the last returned. A C load generator takes far less of the two cores than an HttpClient loop would, so
/// the servers, not the client, are what is measured.
/// </summary>
internal static partial class LoadGenerator
{
    /// <summary>The admin key the benchmarks configure client-api with and send on every request (the naive server ignores it).</summary>
    public const string Key = "bench-admin-key-0123456789abcdef";

    public sealed record Result(int Concurrency, double RequestsPerSecond, double P50Ms, double P99Ms, long Errors, long Requests = 0, double MaxMs = 0);

    /// <summary>A warm-up run, then the measured one.</summary>
    public static async Task<Result> RunAsync(Uri endpoint, string body, int concurrency, TimeSpan warmUp, TimeSpan duration)
    {
        await RunOnceAsync(endpoint, body, concurrency, warmUp);
        return await RunOnceAsync(endpoint, body, concurrency, duration);
    }

    public static async Task<Result> RunOnceAsync(Uri endpoint, string body, int concurrency, TimeSpan duration)
    {
        var script = Path.Combine(Path.GetTempPath(), $"aifleet-bench-{Guid.NewGuid():N}.lua");
        await File.WriteAllTextAsync(script,
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer " + Key + "\"\nwrk.body = [==[" + body + "]==]\n");
        try
        {
            return await RunScriptAsync(endpoint, script, concurrency, duration);
        }
        finally
        {
            File.Delete(script);
        }
    }

    /// <summary>
    /// A warm-up run and the measured one of the KServe binary tensor extension: bench/lua/binary-file.lua posting
    /// <paramref name="body"/>, whose JSON header is <paramref name="headerLength"/> bytes.
    /// </summary>
    public static async Task<Result> RunBinaryAsync(Uri endpoint, byte[] body, int headerLength, int concurrency, TimeSpan warmUp, TimeSpan duration)
    {
        var file = Path.Combine(Path.GetTempPath(), $"aifleet-bench-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(file, body);
        try
        {
            var script = Path.Combine(Processes.FindUp("bench", d => File.Exists(Path.Combine(d, "lua", "binary-file.lua"))), "lua", "binary-file.lua");
            var environment = new Dictionary<string, string>
            {
                ["AIFLEET_BODY"] = file,
                ["AIFLEET_KEY"] = Key,
                ["AIFLEET_HEADER_LENGTH"] = headerLength.ToString(CultureInfo.InvariantCulture),
            };
            await RunScriptAsync(endpoint, script, concurrency, warmUp, environment);
            return await RunScriptAsync(endpoint, script, concurrency, duration, environment);
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>One run of wrk with a Lua script of the caller's (one that rotates keys, say).</summary>
    public static async Task<Result> RunScriptAsync(Uri endpoint, string script, int concurrency, TimeSpan duration, IReadOnlyDictionary<string, string>? environment = null)
    {
        var output = await WrkAsync(endpoint, script, concurrency, duration, environment);
        var errors = NonSuccess().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        errors += SocketErrors().Matches(output).Sum(x => long.Parse(x.Groups[1].Value, CultureInfo.InvariantCulture));
        var latency = LatencyLine().Match(output);
        return new Result(
            concurrency,
            double.Parse(Throughput().Match(output).Groups[1].Value, CultureInfo.InvariantCulture),
            Percentile(output, "50"),
            Percentile(output, "99"),
            errors,
            long.Parse(Requests().Match(output).Groups[1].Value, CultureInfo.InvariantCulture),
            Milliseconds(latency.Groups[1].Value, latency.Groups[2].Value));
    }

    private static async Task<string> WrkAsync(Uri endpoint, string script, int concurrency, TimeSpan duration, IReadOnlyDictionary<string, string>? environment)
    {
        var info = new ProcessStartInfo("wrk",
            $"-t1 -c{concurrency} -d{Math.Max(1, (int)duration.TotalSeconds)}s --latency --timeout 30s -s {script} {endpoint}")
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        using var wrk = Process.Start(info) ?? throw new InvalidOperationException("wrk did not start (apt-get install wrk)");
        var output = await wrk.StandardOutput.ReadToEndAsync();
        await wrk.WaitForExitAsync();
        return wrk.ExitCode == 0 ? output : throw new InvalidOperationException($"wrk failed: {output}");
    }

    private static double Percentile(string output, string p)
    {
        var m = Regex.Match(output, $@"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", RegexOptions.Multiline);
        return Milliseconds(m.Groups[1].Value, m.Groups[2].Value);
    }

    private static double Milliseconds(string number, string unit)
    {
        var value = double.Parse(number, CultureInfo.InvariantCulture);
        return unit switch { "us" => value / 1000, "ms" => value, "m" => value * 60_000, _ => value * 1000 };
    }

    /// <summary>wrk's "Latency avg stdev max +/-stdev" line: the max.</summary>
    [GeneratedRegex(@"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)\s", RegexOptions.Multiline)]
    private static partial Regex LatencyLine();

    [GeneratedRegex(@"(\d+) requests in")]
    private static partial Regex Requests();

    [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
    private static partial Regex Throughput();

    [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
    private static partial Regex NonSuccess();

    [GeneratedRegex(@"(?:connect|read|write|timeout) (\d+)")]
    private static partial Regex SocketErrors();
}
