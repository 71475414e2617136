using System.Globalization;
using System.Text;

namespace Orleans.AiFleet.Bench;

/// <summary>The main benchmark's report: per model, (a) raw ONNX Runtime, (b) the naive server and (c) Orleans.AiFleet over each protocol, and the targets checked.</summary>
internal static class BenchReport
{
    public const string Json = "HTTP+JSON";
    public const string Binary = "HTTP, binary tensors";
    public const string Grpc = "gRPC, raw tensors";

    private static readonly string[] Protocols = [Json, Binary, Grpc];

    public static string Write(
        IReadOnlyList<Workload> workloads,
        IReadOnlyDictionary<string, IReadOnlyList<RawOnnx.Result>> raw,
        IReadOnlyDictionary<(string, string, int), LoadGenerator.Result> naive,
        IReadOnlyDictionary<(string, string, int), LoadGenerator.Result> fleet,
        IReadOnlyDictionary<(string, string, int), LoadGenerator.Result> unmetered,
        int[] concurrencies,
        TimeSpan warmUp,
        TimeSpan duration)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores ({CpuModel()}), .NET {Environment.Version}, ONNX Runtime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        sb.AppendLine(CultureInfo.InvariantCulture, $"Each point: {warmUp.TotalSeconds:0} s warm-up, {duration.TotalSeconds:0} s measured; N connections in a closed loop, one row per request, wrk (HTTP) or h2load (gRPC) with one thread on the same 2 cores as the server; servers measured one at a time.");
        var targets = new List<string>();
        foreach (var w in workloads)
        {
            var best = raw[w.Model].MaxBy(r => r.SamplesPerSecond)!;
            var single = raw[w.Model].First(r => r.Batch == 1 && r.Layout == "1 thread, intra-op 1");
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"### {w.Model} (output `{w.Output}`)");
            sb.AppendLine(CultureInfo.InvariantCulture, $"(a) raw ONNX Runtime best: **{best.SamplesPerSecond:0} samples/s** (batch {best.Batch}, {best.Layout}); single-row Run p50 {single.P50Ms:0.000} ms.");
            sb.AppendLine();
            sb.AppendLine("| protocol | clients | (b) naive req/s | (b) p50 ms | (b) p99 ms | (c) AiFleet req/s | (c) p50 ms | (c) p99 ms | c/b | c/a | (c0) unmetered req/s |");
            sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var protocol in Protocols)
            {
                foreach (var c in concurrencies)
                {
                    if (!fleet.TryGetValue((w.Model, protocol, c), out var f) || !naive.TryGetValue((w.Model, protocol, c), out var b))
                    {
                        continue;
                    }

                    var u = unmetered.TryGetValue((w.Model, protocol, c), out var x) ? x.RequestsPerSecond.ToString("0", CultureInfo.InvariantCulture) : "";
                    var errors = b.Errors + f.Errors > 0 ? $" (errors: b {b.Errors}, c {f.Errors})" : "";
                    sb.AppendLine(CultureInfo.InvariantCulture,
                        $"| {protocol}{errors} | {c} | {b.RequestsPerSecond:0} | {b.P50Ms:0.00} | {b.P99Ms:0.00} | {f.RequestsPerSecond:0} | {f.P50Ms:0.00} | {f.P99Ms:0.00} | {f.RequestsPerSecond / b.RequestsPerSecond:0.00} | {f.RequestsPerSecond / best.SamplesPerSecond:0.00} | {u} |");
                }
            }

            Targets(w, best, naive, fleet, targets);
            sb.AppendLine();
            sb.AppendLine("<details><summary>raw sweep</summary>");
            sb.AppendLine();
            sb.AppendLine("| batch | layout | samples/s | Run p50 ms |");
            sb.AppendLine("|---:|---|---:|---:|");
            foreach (var r in raw[w.Model])
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {r.Batch} | {r.Layout} | {r.SamplesPerSecond:0} | {r.P50Ms:0.000} |");
            }

            sb.AppendLine();
            sb.AppendLine("</details>");
        }

        sb.AppendLine();
        sb.AppendLine("### Targets");
        sb.AppendLine();
        foreach (var t in targets)
        {
            sb.AppendLine(t);
        }

        return sb.ToString();
    }

    /// <summary>The targets: throughput against (a) and (b) on the compute-bound model, protocols against JSON on the text encoder, the tail everywhere.</summary>
    private static void Targets(
        Workload w,
        RawOnnx.Result best,
        IReadOnlyDictionary<(string, string, int), LoadGenerator.Result> naive,
        IReadOnlyDictionary<(string, string, int), LoadGenerator.Result> fleet,
        List<string> targets)
    {
        string Met(bool ok) => ok ? "met" : "**missed**";
        if (w.Model == "sentence-encoder")
        {
            var top = Protocols.Where(p => fleet.ContainsKey((w.Model, p, 64))).MaxBy(p => fleet[(w.Model, p, 64)].RequestsPerSecond)!;
            var c = fleet[(w.Model, top, 64)].RequestsPerSecond;
            var b = naive[(w.Model, top, 64)].RequestsPerSecond;
            targets.Add(Line($"- {w.Model}, 64 clients, {top}: c = {c:0} req/s = {c / best.SamplesPerSecond:0.00} × a (target ≥ 0.9: {Met(c >= 0.9 * best.SamplesPerSecond)}) and {c / b:0.00} × b (target ≥ 3: {Met(c >= 3 * b)})."));
        }

        if (w.Model == "text-encoder")
        {
            foreach (var n in new[] { 1, 64 })
            {
                var json = fleet[(w.Model, Json, n)].RequestsPerSecond;
                var fastest = Math.Max(fleet[(w.Model, Binary, n)].RequestsPerSecond, fleet[(w.Model, Grpc, n)].RequestsPerSecond);
                targets.Add(Line($"- {w.Model}, {n} client(s): binary or gRPC {fastest:0} req/s = {fastest / json:0.00} × JSON's {json:0} (target ≥ 2: {Met(fastest >= 2 * json)})."));
            }
        }

        foreach (var protocol in Protocols)
        {
            if (!fleet.TryGetValue((w.Model, protocol, 1), out var one) || !fleet.TryGetValue((w.Model, protocol, 64), out var many))
            {
                continue;
            }

            var (naiveOne, naiveMany) = (naive[(w.Model, protocol, 1)], naive[(w.Model, protocol, 64)]);
            targets.Add(Line($"- {w.Model}, {protocol}: p99 at 1 client {one.P99Ms:0.00} ms = {one.P99Ms / naiveOne.P99Ms:0.00} × naive's (target ≤ 2: {Met(one.P99Ms <= 2 * naiveOne.P99Ms)}); at 64 clients {many.P99Ms:0.00} ms = {many.P99Ms / naiveMany.P99Ms:0.00} × naive's (target ≤ 1: {Met(many.P99Ms <= naiveMany.P99Ms)})."));
        }
    }

    private static string Line(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string CpuModel() =>
        File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
            : "unknown";
}
