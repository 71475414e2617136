using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// Time to first token of chats against a running server: each client sends the same sampled chat (chat-lm, 20
/// characters) over and over, streamed (time to the first <c>data:</c> event, and to the end) and not (time to the
/// whole answer). Usage: <c>ttft &lt;base url&gt; &lt;key&gt; &lt;seconds&gt;</c>; bench/openai.sh runs it.
/// </summary>
internal static class FirstTokenBench
{
    private const string Body = """{"model":"chat-lm","temperature":1,"max_tokens":20,"stream":STREAM,"messages":[{"role":"user","content":"And God said, Let there be"}]}""";

    public static async Task<string> RunAsync(string[] args)
    {
        var (baseUrl, key, seconds) = (new Uri(args[1]), args[2], double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture));
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = baseUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var report = new StringBuilder();
        report.AppendLine("| chat | clients | req/s | first token p50 ms | first token p99 ms | whole answer p50 ms | whole answer p99 ms |");
        report.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var clients in new[] { 1, 64 })
        {
            foreach (var stream in new[] { true, false })
            {
                await MeasureAsync(http, stream, clients, TimeSpan.FromSeconds(2)); // warm-up
                var (rate, first, whole) = await MeasureAsync(http, stream, clients, TimeSpan.FromSeconds(seconds));
                report.AppendLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"| {(stream ? "streamed" : "not streamed")} | {clients} | {rate:0} | {Stats.Percentile(first, 0.5):0.00} | {Stats.Percentile(first, 0.99):0.00} | {Stats.Percentile(whole, 0.5):0.00} | {Stats.Percentile(whole, 0.99):0.00} |"));
            }
        }

        return report.ToString();
    }

    private static async Task<(double Rate, double[] First, double[] Whole)> MeasureAsync(HttpClient http, bool stream, int clients, TimeSpan duration)
    {
        var body = Body.Replace("STREAM", stream ? "true" : "false", StringComparison.Ordinal);
        var first = new List<double>();
        var whole = new List<double>();
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            var (mine, mineWhole) = (new List<double>(), new List<double>());
            while (clock.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                response.EnsureSuccessStatusCode();
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                double? firstAt = null;
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (firstAt is null && (!stream || line.StartsWith("data: {", StringComparison.Ordinal)))
                    {
                        firstAt = stream ? Stopwatch.GetElapsedTime(started).TotalMilliseconds : null;
                    }
                }

                var total = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                mine.Add(firstAt ?? total);
                mineWhole.Add(total);
            }

            lock (first)
            {
                first.AddRange(mine);
                whole.AddRange(mineWhole);
            }
        }));
        var rate = first.Count / clock.Elapsed.TotalSeconds;
        return (rate, first.Order().ToArray(), whole.Order().ToArray());
    }
}
