using System.Diagnostics;
using System.Net;
using System.Text;

namespace Orleans.AiFleet.Bench;

/// <summary>A closed loop of N HTTP clients over loopback, each sending the same request as soon as the last returned.</summary>
internal static class LoadGenerator
{
    public sealed record Result(int Concurrency, double RequestsPerSecond, double P50Ms, double P99Ms, long Errors);

    public static async Task<Result> RunAsync(Uri endpoint, string body, int concurrency, TimeSpan warmUp, TimeSpan duration)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = concurrency,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            AutomaticDecompression = DecompressionMethods.None,
        })
        { Timeout = TimeSpan.FromSeconds(30) };
        var payload = Encoding.UTF8.GetBytes(body);
        var measuringFrom = Stopwatch.GetTimestamp() + (long)(warmUp.TotalSeconds * Stopwatch.Frequency);
        var end = measuringFrom + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var latencies = new List<double>[concurrency];
        var errors = 0L;

        async Task Client(int i)
        {
            var mine = latencies[i] = new List<double>(50_000);
            while (true)
            {
                var t0 = Stopwatch.GetTimestamp();
                if (t0 >= end)
                {
                    return;
                }

                using var content = new ByteArrayContent(payload);
                content.Headers.ContentType = new("application/json");
                using var response = await http.PostAsync(endpoint, content);
                await response.Content.CopyToAsync(Stream.Null);
                var t1 = Stopwatch.GetTimestamp();
                if (t0 >= measuringFrom && t1 <= end)
                {
                    if (response.IsSuccessStatusCode)
                    {
                        mine.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
                    }
                    else
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(i => Task.Run(() => Client(i))));
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new Result(concurrency, all.Length / duration.TotalSeconds, Stats.Percentile(all, 0.50), Stats.Percentile(all, 0.99), errors);
    }
}
