using System.Diagnostics;
using System.Globalization;
using System.Text;
using Orleans.AiFleet.Bench;

// Orleans.AiFleet benchmark: (a) raw ONNX Runtime, (b) a naive per-request server, (c) Orleans.AiFleet embedded,
// side by side in one run on the same models and inputs. Usage: see bench/run.sh.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
if (args.Length >= 1 && args[0] == "naive-server")
{
    NaiveServer.Run(args[1], int.Parse(args[2], CultureInfo.InvariantCulture));
    return 0;
}

if (args.Length >= 4 && args[0] == "protocol-bodies")
{
    Console.WriteLine(await ProtocolBodies.RunAsync(args));
    return 0;
}

if (args.Length >= 4 && args[0] == "ttft")
{
    Console.WriteLine(await FirstTokenBench.RunAsync(args));
    return 0;
}

if (args.Length >= 1 && args[0] is "cluster" or "budget" or "routing" or "sagas" or "lifecycle")
{
    var clusterReport = args[0] switch
    {
        "cluster" => await ClusterBench.RunAsync(args),
        "budget" => await BudgetBench.RunAsync(args),
        "sagas" => await SagaBench.RunAsync(args),
        "lifecycle" => await LifecycleBench.RunAsync(args),
        _ => await RoutingBench.RunAsync(args),
    };
    Console.WriteLine(clusterReport);
    if (args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault() is { } clusterOut)
    {
        File.WriteAllText(clusterOut, clusterReport);
    }

    return 0;
}

var duration = TimeSpan.FromSeconds(Option("--duration", 6));
var warmUp = TimeSpan.FromSeconds(Option("--warmup", 2));
var rawEach = TimeSpan.FromSeconds(Option("--raw-seconds", 2));
var outFile = args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault();
int[] concurrencies = [1, 8, 64];
var repo = Processes.FindUp("models", d => File.Exists(Path.Combine(d, "digits", "config.json")));
var root = Path.GetDirectoryName(repo)!;
var clientApi = Directory.EnumerateFiles(Path.Combine(root, "client-api", "bin", "Release"), "Orleans.AiFleet.ClientApi.dll", SearchOption.AllDirectories).First();
Workload[] workloads = [Workload.Digits(repo), Workload.TextEncoder(repo)];

var raw = workloads.ToDictionary(w => w.Model, w =>
{
    Console.Error.WriteLine($"(a) raw ONNX Runtime sweep: {w.Model}");
    return RawOnnx.Sweep(w, rawEach);
});

var naivePort = Processes.FreePort();
var naive = await MeasureServerAsync("(b) naive server",
    Processes.Start("dotnet", $"\"{typeof(Program).Assembly.Location}\" naive-server \"{repo}\" {naivePort}", []),
    new Uri($"http://127.0.0.1:{naivePort}"), "/ready");

var fleet = await MeasureFleetAsync("(c) Orleans.AiFleet embedded", metered: true);
// The same server with KServe metering off: what charging every inference to a budget costs.
var unmetered = await MeasureFleetAsync("(c0) Orleans.AiFleet embedded, unmetered", metered: false);

var report = Report();
Console.WriteLine(report);
if (outFile is not null)
{
    File.WriteAllText(outFile, report);
}

return 0;

Task<Dictionary<(string, int), LoadGenerator.Result>> MeasureFleetAsync(string name, bool metered)
{
    var port = Processes.FreePort();
    return MeasureServerAsync(name,
        Processes.Start("dotnet", $"\"{clientApi}\"", new()
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["AiFleet__Grpc__Port"] = "0", // gRPC off: benchmarks run beside other servers
            ["AiFleet__Models__Path"] = repo,
            ["AiFleet__Embedded__SiloPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
            ["AiFleet__Embedded__GatewayPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Logging__LogLevel__Default"] = "Warning",
            ["AiFleet__Auth__AdminKey"] = LoadGenerator.Key,
            ["AiFleet__Budgets__MeterKServe"] = metered ? "true" : "false",
        }),
        new Uri($"http://127.0.0.1:{port}"), "/health/ready");
}

async Task<Dictionary<(string, int), LoadGenerator.Result>> MeasureServerAsync(string name, Process server, Uri baseUri, string readyPath)
{
    try
    {
        await Processes.WaitReadyAsync(name, server, baseUri, readyPath);
        var results = new Dictionary<(string, int), LoadGenerator.Result>();
        foreach (var w in workloads)
        {
            foreach (var c in concurrencies)
            {
                Console.Error.WriteLine($"{name}: {w.Model}, {c} clients");
                results[(w.Model, c)] = await LoadGenerator.RunAsync(new Uri(baseUri, $"/v2/models/{w.Model}/infer"), w.RequestJson, c, warmUp, duration);
            }
        }

        return results;
    }
    finally
    {
        server.Kill(entireProcessTree: true);
        await server.WaitForExitAsync();
    }
}

string Report()
{
    var sb = new StringBuilder();
    sb.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores ({CpuModel()}), .NET {Environment.Version}, ONNX Runtime {typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
    sb.AppendLine(CultureInfo.InvariantCulture, $"Each HTTP point: {warmUp.TotalSeconds:0} s warm-up, {duration.TotalSeconds:0} s measured; wrk, one thread, N connections in a closed loop, one row per request, on the same 2 cores as the server; servers measured one at a time.");
    foreach (var w in workloads)
    {
        var best = raw[w.Model].MaxBy(r => r.SamplesPerSecond)!;
        var single = raw[w.Model].First(r => r.Batch == 1 && r.Layout == "1 thread, intra-op 1");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"### {w.Model} (output `{w.Output}`)");
        sb.AppendLine(CultureInfo.InvariantCulture, $"(a) raw ONNX Runtime best: **{best.SamplesPerSecond:0} samples/s** (batch {best.Batch}, {best.Layout}); single-row Run p50 {single.P50Ms:0.000} ms.");
        sb.AppendLine();
        sb.AppendLine("| clients | (b) naive req/s | (b) p50 ms | (b) p99 ms | (c) AiFleet req/s | (c) p50 ms | (c) p99 ms | c/b | c/a | (c0) unmetered req/s | c/c0 |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var c in concurrencies)
        {
            var b = naive[(w.Model, c)];
            var f = fleet[(w.Model, c)];
            var u = unmetered[(w.Model, c)];
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {c} | {b.RequestsPerSecond:0} | {b.P50Ms:0.00} | {b.P99Ms:0.00} | {f.RequestsPerSecond:0} | {f.P50Ms:0.00} | {f.P99Ms:0.00} | {f.RequestsPerSecond / b.RequestsPerSecond:0.00} | {f.RequestsPerSecond / best.SamplesPerSecond:0.00} | {u.RequestsPerSecond:0} | {f.RequestsPerSecond / u.RequestsPerSecond:0.00} |");
            if (b.Errors + f.Errors + u.Errors > 0)
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"|  | errors: {b.Errors} |  |  | errors: {f.Errors} |  |  |  |  | errors: {u.Errors} |  |");
            }
        }

        var f1 = fleet[(w.Model, 1)];
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Added p50 at 1 client over a direct single-row Run: {f1.P50Ms - single.P50Ms:0.000} ms (over the naive server: {f1.P50Ms - naive[(w.Model, 1)].P50Ms:0.000} ms).");
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

    return sb.ToString();
}

double Option(string name, double fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static string CpuModel() =>
    File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown"
        : "unknown";
