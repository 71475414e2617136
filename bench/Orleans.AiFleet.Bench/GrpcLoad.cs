using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Grpc.Net.Client;
using GrpcMetadata = Grpc.Core.Metadata;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// Closed-loop gRPC load from h2load (nghttp2's C load generator): N HTTP/2 connections over loopback, one
/// <c>ModelInfer</c> stream at a time each, the same framed message every time; latency percentiles from its
/// per-request log. Before the run, the same request goes once through a client generated from the shipped proto,
/// and its answer is checked, since h2load sees HTTP statuses but not gRPC's.
/// </summary>
internal static partial class GrpcLoad
{
    public static async Task<LoadGenerator.Result> RunAsync(Uri server, Workload w, int concurrency, TimeSpan warmUp, TimeSpan duration)
    {
        await CheckAsync(server, w);
        var body = Path.Combine(Path.GetTempPath(), $"aifleet-bench-{Guid.NewGuid():N}.grpc");
        var log = Path.ChangeExtension(body, ".log");
        await File.WriteAllBytesAsync(body, w.RequestGrpcFramed());
        try
        {
            await H2LoadAsync(server, body, concurrency, warmUp, log: null);
            var output = await H2LoadAsync(server, body, concurrency, duration, log);
            var latencies = File.ReadLines(log)
                .Select(l => l.Split('\t'))
                .Where(c => c.Length >= 3)
                .Select(c => double.Parse(c[2], CultureInfo.InvariantCulture) / 1000)
                .Order()
                .ToArray();
            var failed = Failed().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
            return new LoadGenerator.Result(concurrency, double.Parse(Throughput().Match(output).Groups[1].Value, CultureInfo.InvariantCulture),
                Stats.Percentile(latencies, 0.50), Stats.Percentile(latencies, 0.99), failed, latencies.Length, latencies.LastOrDefault());
        }
        finally
        {
            File.Delete(body);
            File.Delete(log);
        }
    }

    private static async Task CheckAsync(Uri server, Workload w)
    {
        using var channel = GrpcChannel.ForAddress(server);
        var client = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var reply = await client.ModelInferAsync(w.RequestGrpc(), new GrpcMetadata { { "authorization", $"Bearer {LoadGenerator.Key}" } });
        if (reply.RawOutputContents.Count != 1 || reply.RawOutputContents[0].Length == 0 || reply.Outputs[0].Name != w.Output)
        {
            throw new InvalidOperationException($"{w.Model}: unexpected gRPC answer from {server}: {reply}");
        }
    }

    private static async Task<string> H2LoadAsync(Uri server, string body, int concurrency, TimeSpan duration, string? log)
    {
        var info = new ProcessStartInfo("h2load")
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "-t1", $"-c{concurrency}", "-m1", $"-D{Math.Max(1, (int)duration.TotalSeconds)}", "-d", body,
                     "-H", "content-type: application/grpc", "-H", "te: trailers", "-H", $"authorization: Bearer {LoadGenerator.Key}",
                 })
        {
            info.ArgumentList.Add(arg);
        }

        if (log is not null)
        {
            info.ArgumentList.Add($"--log-file={log}");
        }

        info.ArgumentList.Add(new Uri(server, "/inference.GRPCInferenceService/ModelInfer").ToString());
        using var h2load = Process.Start(info) ?? throw new InvalidOperationException("h2load did not start (apt-get install nghttp2-client)");
        var output = await h2load.StandardOutput.ReadToEndAsync();
        await h2load.WaitForExitAsync();
        return h2load.ExitCode == 0 ? output : throw new InvalidOperationException($"h2load failed: {output}");
    }

    [GeneratedRegex(@"^finished in [^,]+, ([\d.]+) req/s", RegexOptions.Multiline)]
    private static partial Regex Throughput();

    [GeneratedRegex(@"^requests: .*?(\d+) failed,", RegexOptions.Multiline)]
    private static partial Regex Failed();
}
