using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

using Orleans.AiFleet.Tests;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// The cluster benchmarks: (1) autoscaler reaction to a step from 1 to 64 clients, in the embedded default;
/// (2) throughput of one silo against two, and (3) a kill -9 of one of two silos under load, both on the real
/// cluster that scripts/cluster.sh runs (PostgreSQL, Redis, silo processes, client-api). wrk is the load.
/// </summary>
internal static class ClusterBench
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<string> RunAsync(string[] args)
    {
        var duration = TimeSpan.FromSeconds(Option(args, "--duration", 8));
        var runs = (int)Option(args, "--runs", 3);
        var i = Array.IndexOf(args, "--scenarios");
        var scenarios = (i >= 0 && i + 1 < args.Length ? args[i + 1] : "autoscale,silos,kill").Split(',');
        var repo = Processes.FindUp("models", d => File.Exists(Path.Combine(d, "digits", "config.json")));
        var root = Path.GetDirectoryName(repo)!;
        var digits = Workload.Digits(repo);
        var encoder = Workload.TextEncoder(repo);
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"Machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC. wrk on the same cores as every process.");

        // (1) Autoscaler reaction.
        if (scenarios.Contains("autoscale"))
        {
            await AutoscaleAsync(sb, runs, repo, digits);
        }

        // (2) One silo against two.
        if (scenarios.Contains("silos"))
        {
            await SilosAsync(sb, duration, root, digits, encoder);
        }

        // (3) kill -9 of a silo under load.
        if (scenarios.Contains("kill"))
        {
            await KillAsync(sb, runs, root, digits);
        }

        // (4) Course sagas in flight through a kill -9.
        if (scenarios.Contains("sagas"))
        {
            await SagasAsync(sb, root, (int)Option(args, "--sagas", 100));
        }

        return sb.ToString();
    }

    private static async Task AutoscaleAsync(StringBuilder sb, int runs, string repo, Workload digits)
    {
        sb.AppendLine();
        sb.AppendLine("### Autoscaler reaction: 1 → 64 clients");
        sb.AppendLine();
        sb.AppendLine("`autoscale`: the digits v2 model with replicas min 1, max 4, target 8 in flight per replica, upscaleDelayMs 1000. Embedded default; wrk 1 connection for 3 s, then 64 connections from t = 0.");
        sb.AppendLine();
        sb.AppendLine("| run | decision at s | added replica serving at s | replicas after | 64-client req/s | errors | decision |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---|");
        var serving = new List<double>();
        for (var run = 1; run <= runs; run++)
        {
            var r = await AutoscaleOnceAsync(repo, digits);
            serving.Add(r.ServingAt);
            sb.AppendLine(Inv, $"| {run} | {r.DecisionAt:0.00} | {r.ServingAt:0.00} | {r.Replicas} | {r.Load.RequestsPerSecond:0} | {r.Load.Errors} | {r.Reason} |");
        }

        serving.Sort();
        sb.AppendLine();
        sb.AppendLine(Inv, $"Median time from the step until an added replica serves: **{serving[serving.Count / 2]:0.00} s** (goal < 3 s).");
    }

    private static async Task SilosAsync(StringBuilder sb, TimeSpan duration, string root, Workload digits, Workload encoder)
    {
        sb.AppendLine();
        sb.AppendLine("### Throughput: one silo against two (scripts/cluster.sh, 64 connections)");
        sb.AppendLine();
        var bySilos = new Dictionary<int, Dictionary<string, LoadGenerator.Result>>();
        var falseDeaths = 0;
        foreach (var silos in new[] { 1, 2 })
        {
            await using var cluster = await LocalCluster.StartAsync(root, silos);
            bySilos[silos] = [];
            foreach (var w in new[] { digits, encoder })
            {
                Console.Error.WriteLine($"{silos} silo(s): {w.Model}");
                bySilos[silos][w.Model] = await LoadGenerator.RunAsync(new Uri(cluster.Http, $"/v2/models/{w.Model}/infer"), w.RequestJson, 64, TimeSpan.FromSeconds(3), duration);
            }

            falseDeaths += await cluster.DeadSilosAsync(); // none was killed: any silo declared dead was alive
        }

        sb.AppendLine("| model | 1 silo req/s | p50 / p99 ms | 2 silos req/s | p50 / p99 ms | 2 / 1 |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var model in new[] { digits.Model, encoder.Model })
        {
            var one = bySilos[1][model];
            var two = bySilos[2][model];
            sb.AppendLine(Inv, $"| {model} | {one.RequestsPerSecond:0} | {one.P50Ms:0.00} / {one.P99Ms:0.00} | {two.RequestsPerSecond:0} | {two.P50Ms:0.00} / {two.P99Ms:0.00} | {two.RequestsPerSecond / one.RequestsPerSecond:0.00} |");
        }

        sb.AppendLine();
        sb.AppendLine(Inv, $"Silos declared dead while these loads ran (false deaths, with 1.5 s probes): **{falseDeaths}**.");
    }

    private static async Task KillAsync(StringBuilder sb, int runs, string root, Workload digits)
    {
        sb.AppendLine();
        sb.AppendLine("### kill -9 of one of two silos under load (8 connections, digits, 20 s; the kill at 4 s)");
        sb.AppendLine();
        sb.AppendLine("| run | requests | non-2xx + socket errors | max latency ms | replicas restored after s | silos declared dead |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|");
        for (var run = 1; run <= runs; run++)
        {
            await using var cluster = await LocalCluster.StartAsync(root, 2);
            var load = LoadGenerator.RunOnceAsync(new Uri(cluster.Http, "/v2/models/digits/infer"), digits.RequestJson, 8, TimeSpan.FromSeconds(20));
            await Task.Delay(4000);
            var victimPort = cluster.FirstSiloPort + 1;
            await cluster.KillAsync(1);
            var clock = Stopwatch.StartNew();
            var restored = await RestoredAsync(cluster.Http, victimPort, clock);
            var result = await load;
            var dead = await cluster.DeadSilosAsync(); // 1: the killed one; more would be a false death under load
            sb.AppendLine(Inv, $"| {run} | {result.Requests} | {result.Errors} | {result.MaxMs:0} | {(restored is { } s ? s.ToString("0.0", Inv) : "not within 30 s")} | {dead} |");
        }
    }

    private sealed record Autoscale(double DecisionAt, double ServingAt, int Replicas, LoadGenerator.Result Load, string Reason);

    private static async Task<Autoscale> AutoscaleOnceAsync(string repo, Workload digits)
    {
        var temp = TestRepository.Create("digits", ("autoscale", config => config["replicas"] = new JsonObject
        {
            ["minReplicas"] = 1, ["maxReplicas"] = 4, ["targetInFlightPerReplica"] = 8, ["upscaleDelayMs"] = 1000, ["downscaleDelayMs"] = 60000,
        }));
        var port = Processes.FreePort();
        var root = Path.GetDirectoryName(repo)!;
        var clientApi = Directory.EnumerateFiles(Path.Combine(root, "client-api", "bin", "Release"), "Orleans.AiFleet.ClientApi.dll", SearchOption.AllDirectories).First();
        var server = Processes.Start("dotnet", $"\"{clientApi}\"", new()
        {
            ["Urls"] = $"http://127.0.0.1:{port}",
            ["AiFleet__Grpc__Port"] = "0", // gRPC off: benchmarks run beside other servers
            ["AiFleet__Models__Path"] = temp,
            ["AiFleet__Embedded__SiloPort"] = Processes.FreePort().ToString(Inv),
            ["AiFleet__Embedded__GatewayPort"] = Processes.FreePort().ToString(Inv),
            ["Logging__LogLevel__Default"] = "Warning",
            ["AiFleet__Auth__AdminKey"] = LoadGenerator.Key,
        });
        var baseUri = new Uri($"http://127.0.0.1:{port}");
        try
        {
            await Processes.WaitReadyAsync("client-api", server, baseUri, "/health/ready");
            var endpoint = new Uri(baseUri, "/v2/models/autoscale/infer");
            var body = digits.RequestJson;
            await LoadGenerator.RunOnceAsync(endpoint, body, 1, TimeSpan.FromSeconds(3));
            using var http = Authorized(new HttpClient { BaseAddress = baseUri });
            var clock = Stopwatch.StartNew();
            var load = LoadGenerator.RunOnceAsync(endpoint, body, 64, TimeSpan.FromSeconds(8));
            double? decision = null, serving = null;
            var reason = "";
            while ((decision is null || serving is null) && clock.Elapsed < TimeSpan.FromSeconds(8))
            {
                var v2 = Version(JsonNode.Parse(await http.GetStringAsync("/v1/fleet/autoscale"))!, "2", out var events);
                if (decision is null && events.Count > 0)
                {
                    decision = clock.Elapsed.TotalSeconds;
                    reason = events[0]!["reason"]!.GetValue<string>();
                }

                if (serving is null && v2["loads"]!.AsArray().Any(l => !l!["replicaId"]!.GetValue<string>().EndsWith("/0", StringComparison.Ordinal) && l["completedRequests"]!.GetValue<long>() > 0))
                {
                    serving = clock.Elapsed.TotalSeconds;
                }

                await Task.Delay(25);
            }

            var result = await load;
            var final = Version(JsonNode.Parse(await http.GetStringAsync("/v1/fleet/autoscale"))!, "2", out _);
            return new Autoscale(decision ?? double.NaN, serving ?? double.NaN, final["inRotation"]!.AsArray().Count, result, reason);
        }
        finally
        {
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            Directory.Delete(temp, recursive: true);
        }
    }

    /// <summary>Seconds until digits v2 is back at its replica count with none on the killed silo.</summary>
    private static async Task<double?> RestoredAsync(Uri baseUri, int victimPort, Stopwatch clock)
    {
        using var http = Authorized(new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromSeconds(10) });
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            try
            {
                using var response = await http.GetAsync("/v1/fleet/digits");
                if (response.IsSuccessStatusCode)
                {
                    var v2 = Version(JsonNode.Parse(await response.Content.ReadAsStringAsync())!, "2", out _);
                    var inRotation = v2["inRotation"]!.AsArray().Select(r => r!.GetValue<string>()).ToHashSet();
                    var silos = v2["loads"]!.AsArray().Where(l => inRotation.Contains(l!["replicaId"]!.GetValue<string>())).Select(l => l!["silo"]!.GetValue<string>()).ToArray();
                    if (silos.Length == v2["desired"]!.GetValue<int>() && silos.All(s => !s.Contains($":{victimPort}:", StringComparison.Ordinal)))
                    {
                        return clock.Elapsed.TotalSeconds;
                    }
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Inspection itself may wait out the failover.
            }

            await Task.Delay(100);
        }

        return null;
    }

    private static HttpClient Authorized(HttpClient http)
    {
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", LoadGenerator.Key);
        return http;
    }

    private static JsonNode Version(JsonNode fleet, string version, out JsonArray events)
    {
        events = fleet["recentEvents"]!.AsArray();
        return fleet["versions"]!.AsArray().Single(v => v!["version"]!.GetValue<string>() == version)!;
    }

    private static double Option(string[] args, string name, double fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], Inv) : fallback;
    }

    /// <summary>
    /// <paramref name="count"/> course sagas (10 users, 4 lessons of 60 characters each on chat-lm) started at once on a
    /// two-silo cluster, twice side by side: undisturbed, then with kill -9 of silo 1 once a third of the lessons are
    /// written. Every saga is checked: its state, its course (each lesson once), and per user the ledger against the
    /// sagas' spend, with nothing left held.
    /// </summary>
    private static async Task SagasAsync(StringBuilder sb, string root, int count)
    {
        sb.AppendLine();
        sb.AppendLine(Inv, $"### {count} course sagas in flight, undisturbed and through a kill -9 (scripts/cluster.sh, 2 silos)");
        sb.AppendLine();
        sb.AppendLine("| run | succeeded | other | courses | duplicate or missing lessons | users whose ledger = sagas' spend | held after | wall s | sagas/s | resumed |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var kill in new[] { false, true })
        {
            await using var cluster = await LocalCluster.StartAsync(root, 2);
            using var admin = new HttpClient { BaseAddress = cluster.Http, Timeout = TimeSpan.FromSeconds(60) };
            admin.DefaultRequestHeaders.Authorization = new("Bearer", LoadGenerator.Key);
            var users = new List<(string User, HttpClient Http)>();
            for (var u = 0; u < 10; u++)
            {
                var user = $"bench-saga-{u}";
                var created = await admin.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user" });
                var key = (await created.Content.ReadFromJsonAsync<JsonObject>())!["key"]!.GetValue<string>();
                var http = new HttpClient { BaseAddress = cluster.Http, Timeout = TimeSpan.FromSeconds(60) };
                http.DefaultRequestHeaders.Authorization = new("Bearer", key);
                users.Add((user, http));
            }

            var clock = Stopwatch.StartNew();
            var jobs = await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
            {
                var (user, http) = users[i % users.Count];
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/courses")
                {
                    Content = JsonContent.Create(new { subject = $"Subject {i}", lessons = 4, model = "chat-lm", lesson_tokens = 60 }),
                };
                request.Headers.Add("Idempotency-Key", $"bench-{i}");
                using var response = await http.SendAsync(request);
                response.EnsureSuccessStatusCode();
                return (User: user, Http: http, Id: (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>());
            }));

            if (kill)
            {
                while (true)
                {
                    var done = 0;
                    foreach (var job in jobs.Take(20))
                    {
                        done += (await job.Http.GetFromJsonAsync<JsonObject>($"/v1/courses/jobs/{job.Id}"))!["lessonsDone"]!.GetValue<int>();
                    }

                    if (done >= 20 * 4 / 3)
                    {
                        break;
                    }

                    await Task.Delay(50);
                }

                await cluster.KillAsync(1);
            }

            var statuses = new Dictionary<string, JsonObject>();
            while (statuses.Count < jobs.Length && clock.Elapsed < TimeSpan.FromMinutes(5))
            {
                foreach (var job in jobs.Where(j => !statuses.ContainsKey(j.Id)))
                {
                    using var response = await job.Http.GetAsync($"/v1/courses/jobs/{job.Id}");
                    if (response.IsSuccessStatusCode && (await response.Content.ReadFromJsonAsync<JsonObject>())! is var status
                        && status["state"]!.GetValue<string>() is "succeeded" or "failed" or "cancelled")
                    {
                        statuses[job.Id] = status;
                    }
                }

                await Task.Delay(200);
            }

            clock.Stop();
            var succeeded = statuses.Values.Count(s => s["state"]!.GetValue<string>() == "succeeded");
            var badCourses = 0;
            var courses = 0;
            foreach (var job in jobs.Where(j => statuses.TryGetValue(j.Id, out var s) && s["courseId"] is not null))
            {
                var course = (await job.Http.GetFromJsonAsync<JsonObject>($"/v1/courses/{statuses[job.Id]["courseId"]!.GetValue<string>()}"))!;
                courses++;
                var indices = course["lessons"]!.AsArray().Select(l => l!["index"]!.GetValue<int>()).ToArray();
                badCourses += indices.SequenceEqual(Enumerable.Range(0, 4)) ? 0 : 1;
            }

            var balanced = 0;
            var held = 0m;
            foreach (var (user, http) in users)
            {
                var usage = (await http.GetFromJsonAsync<JsonObject>("/v1/usage"))!["totalSpend"]!.GetValue<decimal>();
                var spend = jobs.Where(j => j.User == user && statuses.ContainsKey(j.Id) && statuses[j.Id]["state"]!.GetValue<string>() == "succeeded")
                    .Sum(j => statuses[j.Id]["spend"]!.GetValue<decimal>());
                balanced += usage == spend ? 1 : 0;
                held += (await http.GetFromJsonAsync<JsonObject>("/v1/budget"))!["reserved"]!.GetValue<decimal>();
                http.Dispose();
            }

            var resumed = statuses.Values.Count(s => s["resumes"]!.GetValue<int>() > 0);
            sb.AppendLine(Inv,
                $"| {(kill ? "kill -9 of silo 1" : "undisturbed")} | {succeeded} | {jobs.Length - succeeded} | {courses} | {badCourses} | {balanced} of {users.Count} | ${held} | {clock.Elapsed.TotalSeconds:0.0} | {count / clock.Elapsed.TotalSeconds:0.0} | {resumed} |");
        }
    }

    /// <summary>A cluster from scripts/cluster.sh with its own folder, ports and cluster and service ids.</summary>
    private sealed class LocalCluster : IAsyncDisposable
    {
        private readonly string _root;
        private readonly Dictionary<string, string> _environment;

        private LocalCluster(string root, Dictionary<string, string> environment, Uri http, int firstSiloPort)
        {
            _root = root;
            _environment = environment;
            Http = http;
            FirstSiloPort = firstSiloPort;
        }

        public Uri Http { get; }

        public int FirstSiloPort { get; }

        public static async Task<LocalCluster> StartAsync(string root, int silos)
        {
            var id = $"bench-{Guid.NewGuid():N}"[..16];
            var http = Processes.FreePort();
            var siloPort = 21000 + Random.Shared.Next(0, 400) * 10;
            var cluster = new LocalCluster(root, new()
            {
                ["AIFLEET_CLUSTER_DIR"] = Directory.CreateTempSubdirectory("aifleet-bench-cluster-").FullName,
                ["AIFLEET_CLUSTER_HTTP"] = $"http://127.0.0.1:{http}",
                ["AIFLEET_CLUSTER_SILO_PORT"] = siloPort.ToString(Inv),
                ["AIFLEET_CLUSTER_GATEWAY_PORT"] = (siloPort + 5).ToString(Inv),
                ["AIFLEET_CLUSTER_NO_BUILD"] = "1",
                ["AIFLEET__CLUSTER__CLUSTERID"] = id,
                ["AIFLEET__CLUSTER__SERVICEID"] = id,
                ["AIFLEET__AUTH__ADMINKEY"] = LoadGenerator.Key,
            }, new Uri($"http://127.0.0.1:{http}"), siloPort);
            Console.Error.WriteLine($"starting a {silos}-silo cluster");
            await cluster.ScriptAsync("start", silos.ToString(Inv));
            return cluster;
        }

        public Task KillAsync(int silo) => ScriptAsync("kill", silo.ToString(Inv));

        /// <summary>Silos of this cluster the membership table holds as dead (status 6), read with psql while it runs.</summary>
        public async Task<int> DeadSilosAsync()
        {
            var port = Environment.GetEnvironmentVariable("AIFLEET_PG_PORT") ?? "25432";
            var info = new ProcessStartInfo("psql", ["-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "aifleet", "-tAc",
                $"select count(*) from aifleet_membership where deployment_id = '{_environment["AIFLEET__CLUSTER__CLUSTERID"]}' and status = 6"])
            {
                RedirectStandardOutput = true,
            };
            using var psql = Process.Start(info)!;
            var output = await psql.StandardOutput.ReadToEndAsync();
            await psql.WaitForExitAsync();
            return int.Parse(output.Trim(), Inv);
        }

        public async ValueTask DisposeAsync() => await ScriptAsync("stop");

        private async Task ScriptAsync(params string[] arguments)
        {
            var info = new ProcessStartInfo("bash", [Path.Combine(_root, "scripts", "cluster.sh"), .. arguments]) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var (k, v) in _environment)
            {
                info.Environment[k] = v;
            }

            using var process = Process.Start(info)!;
            var errors = process.StandardError.ReadToEndAsync();
            var output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"scripts/cluster.sh {string.Join(' ', arguments)} failed: {await errors}{output}");
            }
        }
    }
}
