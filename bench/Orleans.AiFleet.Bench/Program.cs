using System.Diagnostics;
using System.Globalization;
using Orleans.AiFleet.Bench;

// Orleans.AiFleet benchmark: (a) raw ONNX Runtime, (b) a naive per-request server, (c) Orleans.AiFleet embedded,
// side by side in one run on the same models and inputs. Usage: see bench/run.sh.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
if (args.Length >= 1 && args[0] == "naive-server")
{
    NaiveServer.Run(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture));
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

if (args.Length >= 1 && args[0] is "cluster" or "budget" or "routing" or "sagas" or "lifecycle" or "sockets")
{
    var clusterReport = args[0] switch
    {
        "sockets" => await SocketBench.RunAsync(args),
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
Workload[] workloads = [Workload.Digits(repo), Workload.TextEncoder(repo), Workload.SentenceEncoder(repo)];

var raw = workloads.ToDictionary(w => w.Model, w =>
{
    Console.Error.WriteLine($"(a) raw ONNX Runtime sweep: {w.Model}");
    return RawOnnx.Sweep(w, rawEach);
});

var (naivePort, naiveGrpc) = (Processes.FreePort(), Processes.FreePort());
var naive = await MeasureServerAsync("(b) naive server",
    Processes.Start("dotnet", $"\"{typeof(Program).Assembly.Location}\" naive-server \"{repo}\" {naivePort} {naiveGrpc}", []),
    new Uri($"http://127.0.0.1:{naivePort}"), new Uri($"http://127.0.0.1:{naiveGrpc}"), "/ready", allProtocols: true);

var fleet = await MeasureFleetAsync("(c) Orleans.AiFleet embedded", metered: true);
// The same server with KServe metering off: what charging every inference to a budget costs.
var unmetered = await MeasureFleetAsync("(c0) Orleans.AiFleet embedded, unmetered", metered: false);

var report = BenchReport.Write(workloads, raw, naive, fleet, unmetered, concurrencies, warmUp, duration);
Console.WriteLine(report);
if (outFile is not null)
{
    File.WriteAllText(outFile, report);
}

return 0;

Task<Dictionary<(string, string, int), LoadGenerator.Result>> MeasureFleetAsync(string name, bool metered)
{
    var (port, grpcPort) = (Processes.FreePort(), Processes.FreePort());
    return MeasureServerAsync(name,
        Processes.Start("dotnet", $"\"{clientApi}\"", new()
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["AiFleet__Grpc__Port"] = grpcPort.ToString(CultureInfo.InvariantCulture),
            ["AiFleet__Models__Path"] = repo,
            ["AiFleet__Embedded__SiloPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
            ["AiFleet__Embedded__GatewayPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Logging__LogLevel__Default"] = "Warning",
            ["AiFleet__Auth__AdminKey"] = LoadGenerator.Key,
            ["AiFleet__Budgets__MeterKServe"] = metered ? "true" : "false",
        }),
        new Uri($"http://127.0.0.1:{port}"), new Uri($"http://127.0.0.1:{grpcPort}"), "/health/ready", allProtocols: metered);
}

// Results by (model, protocol, clients). JSON for every workload and 1, 8 and 64 clients; the binary extension and
// gRPC for the encoders at 1 and 64 clients.
async Task<Dictionary<(string, string, int), LoadGenerator.Result>> MeasureServerAsync(string name, Process server, Uri baseUri, Uri grpcUri, string readyPath, bool allProtocols)
{
    try
    {
        await Processes.WaitReadyAsync(name, server, baseUri, readyPath);
        var results = new Dictionary<(string, string, int), LoadGenerator.Result>();
        foreach (var w in workloads)
        {
            var infer = new Uri(baseUri, $"/v2/models/{w.Model}/infer");
            foreach (var c in concurrencies)
            {
                Console.Error.WriteLine($"{name}: {w.Model}, JSON, {c} clients");
                results[(w.Model, BenchReport.Json, c)] = await LoadGenerator.RunAsync(infer, w.RequestJson, c, warmUp, duration);
            }

            if (!allProtocols || w.Model == "digits")
            {
                continue;
            }

            var (binary, headerLength) = w.RequestBinary();
            foreach (var c in new[] { 1, 64 })
            {
                Console.Error.WriteLine($"{name}: {w.Model}, binary and gRPC, {c} clients");
                results[(w.Model, BenchReport.Binary, c)] = await LoadGenerator.RunBinaryAsync(infer, binary, headerLength, c, warmUp, duration);
                results[(w.Model, BenchReport.Grpc, c)] = await GrpcLoad.RunAsync(grpcUri, w, c, warmUp, duration);
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

double Option(string name, double fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}
