using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Orleans.AiFleet.Tests;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// The model lifecycle benchmarks of issue 12, each against client-api's embedded default on a copy of the shipped
/// digits model, over HTTP with many user keys (splits are sticky per user):
/// <list type="bullet">
/// <item><c>ab</c>: an A/B of v1 against v2 with feedback from the held-out labels; requests until v2 is declared better;</item>
/// <item><c>canary</c>: a canary of v1 with 20 % injected errors; seconds to rollback and the share of requests that failed;</item>
/// <item><c>drift</c>: held-out digits, then a brightened stream; requests until the PSI crosses the threshold;</item>
/// <item><c>split</c>: KServe throughput with and without an active 50/50 split between two identical versions, alternating.</item>
/// </list>
/// </summary>
internal static class LifecycleBench
{
    private static readonly JsonElement HeldOut = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestRepository.Shipped, "digits", "heldout.json"))).RootElement;

    public static async Task<string> RunAsync(string[] args)
    {
        var scenario = args.Length > 1 ? args[1] : "all";
        var trials = int.Parse(Option(args, "--trials") ?? "5", CultureInfo.InvariantCulture);
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        if (scenario is "ab" or "all")
        {
            await using var server = await Server.StartAsync(identicalVersions: false);
            report.AppendLine().Append(await AbAsync(server, trials));
        }

        if (scenario is "canary" or "all")
        {
            await using var server = await Server.StartAsync(identicalVersions: false);
            report.AppendLine().Append(await CanaryAsync(server, trials));
        }

        if (scenario is "drift" or "all")
        {
            await using var server = await Server.StartAsync(identicalVersions: false);
            report.AppendLine().Append(await DriftAsync(server, trials));
        }

        if (scenario is "split" or "all")
        {
            await using var server = await Server.StartAsync(identicalVersions: true);
            report.AppendLine().Append(await SplitCostAsync(server, TimeSpan.FromSeconds(double.Parse(Option(args, "--seconds") ?? "8", CultureInfo.InvariantCulture))));
        }

        return report.ToString();
    }

    /// <summary>A/B of v1 (baseline) against v2 at 50/50; each answer gets its held-out label as feedback.</summary>
    private static async Task<string> AbAsync(Server server, int trials)
    {
        var keys = await server.KeysAsync("ab", 200);
        var rows = new List<string>();
        for (var trial = 0; trial < trials; trial++)
        {
            await server.PutAsync("/v1/admin/models/digits/traffic", new { defaultVersion = "1" });
            var id = await server.StartAsync(new { model = "digits", kind = "ab", candidate = "2", baseline = "1", steps = new[] { 50.0 }, confidence = 0.99, minLabels = 30, latencyTolerance = 5.0 });
            var order = Enumerable.Range(0, HeldOut.GetProperty("labels").GetArrayLength()).OrderBy(_ => Random.Shared.Next()).ToArray();
            var sent = 0;
            JsonElement view = default;
            while (true)
            {
                var i = order[sent % order.Length];
                var key = keys[sent % keys.Length];
                using var answer = await server.InferAsync(key, i, $"ab-{trial}-{sent}");
                await server.FeedbackAsync(key, $"ab-{trial}-{sent}", HeldOut.GetProperty("labels")[i].GetInt32());
                sent++;
                if (sent % 10 == 0 && (view = await server.ExperimentAsync(id)).GetProperty("state").GetString() != "running")
                {
                    break;
                }
            }

            var better = view.GetProperty("decisions").EnumerateArray().FirstOrDefault(d => d.GetProperty("action").GetString() == "better");
            if (better.ValueKind != JsonValueKind.Object)
            {
                rows.Add($"| {trial + 1} | {sent} | ended without v2 declared better: {view.GetProperty("decisions").EnumerateArray().Last().GetProperty("reason").GetString()} | | | {view.GetProperty("state").GetString()} |");
                continue;
            }

            var s = better.GetProperty("statistics");
            rows.Add(FormattableString.Invariant(
                $"| {trial + 1} | {sent} | {s.GetProperty("candidateAccuracy").GetDouble():P1} | {s.GetProperty("baselineAccuracy").GetDouble():P1} | {s.GetProperty("accuracyBetterPValue").GetDouble():G3} | {view.GetProperty("state").GetString()} |"));
        }

        return "### A/B: digits v2 (candidate) against v1, 50/50 sticky over 200 users, feedback from held-out labels, 99 % confidence\n\n"
            + "| trial | requests until v2 declared better | v2 accuracy | v1 accuracy | Fisher p | state |\n|---|---|---|---|---|---|\n"
            + string.Join('\n', rows) + "\n";
    }

    /// <summary>A canary of v1 with 20 % injected errors against v2, under closed-loop load from 1,000 users.</summary>
    private static async Task<string> CanaryAsync(Server server, int trials)
    {
        var keys = await server.KeysAsync("canary", 1000);
        await server.PutAsync("/v1/admin/models/digits/versions/1/faults", new { errorRate = 0.2, extraLatencyMs = 0 });
        var rows = new List<string>();
        for (var trial = 0; trial < trials; trial++)
        {
            await server.PutAsync("/v1/admin/models/digits/traffic", new { defaultVersion = "2" });
            var outcomes = new ConcurrentQueue<(long At, bool Ok)>();
            using var stop = new CancellationTokenSource();
            var clock = Stopwatch.StartNew();
            var load = Task.WhenAll(Enumerable.Range(0, 16).Select(worker => Task.Run(async () =>
            {
                for (var n = worker; !stop.IsCancellationRequested; n += 16)
                {
                    using var response = await server.InferAsync(keys[n % keys.Length], n % 450, null);
                    outcomes.Enqueue((clock.ElapsedMilliseconds, response.IsSuccessStatusCode));
                }
            })));
            await Task.Delay(2000); // steady load before the canary
            var startedAt = clock.ElapsedMilliseconds;
            var id = await server.StartAsync(new
            {
                model = "digits", kind = "canary", candidate = "1", baseline = "2", steps = new[] { 1.0, 5, 25, 50, 100 }, minSamples = 200, dwellSeconds = 10,
            });
            JsonElement view;
            while ((view = await server.ExperimentAsync(id)).GetProperty("state").GetString() == "running" && clock.ElapsedMilliseconds - startedAt < 60_000)
            {
                await Task.Delay(50);
            }

            var endedAt = clock.ElapsedMilliseconds;
            await Task.Delay(3000); // until every router has the rollback's policy
            await stop.CancelAsync();
            await load;
            var during = outcomes.Where(o => o.At >= startedAt).ToArray();
            var decision = view.GetProperty("decisions").EnumerateArray().Last();
            var seconds = (decision.GetProperty("at").GetDateTimeOffset() - view.GetProperty("startedAt").GetDateTimeOffset()).TotalSeconds;
            rows.Add(FormattableString.Invariant(
                $"| {trial + 1} | {view.GetProperty("state").GetString()} | {seconds:0.00} | {(endedAt - startedAt) / 1000.0:0.00} | {during.Length:N0} | {during.Count(o => !o.Ok)} | {(double)during.Count(o => !o.Ok) / during.Length:P2} | {decision.GetProperty("reason").GetString()} |"));
        }

        await server.DeleteAsync("/v1/admin/models/digits/versions/1/faults");
        return "### Canary: digits v1 with 20 % injected errors against v2 (steps 1, 5, 25, 50, 100 %), 16 closed-loop clients over 1,000 users\n\n"
            + "Failed share: user requests that failed from the canary's start until 3 s after the rollback, of all sent then.\n\n"
            + "| trial | state | start → rollback decision s | start → seen by client s | requests | failed | failed share | reason |\n|---|---|---|---|---|---|---|---|\n"
            + string.Join('\n', rows) + "\n";
    }

    /// <summary>Held-out digits until the PSI settles, then every pixel brightened by half; requests until v2 drifts.</summary>
    private static async Task<string> DriftAsync(Server server, int trials)
    {
        var keys = await server.KeysAsync("drift", 50);
        var rows = new List<string>();
        var sent = 0;
        for (var trial = 0; trial < trials; trial++)
        {
            for (var n = 0; n < 4000; n++, sent++)
            {
                (await server.InferAsync(keys[sent % keys.Length], sent % 450, null)).Dispose();
            }

            var steady = await server.VersionAsync("digits", "2");
            var shifted = 0;
            while (true)
            {
                (await server.InferAsync(keys[sent % keys.Length], sent % 450, null, p => Math.Min(1f, p + 0.5f))).Dispose();
                sent++;
                shifted++;
                if (shifted % 25 == 0 && (await server.VersionAsync("digits", "2")).GetProperty("drifting").GetBoolean())
                {
                    break;
                }
            }

            var after = await server.VersionAsync("digits", "2");
            rows.Add(FormattableString.Invariant(
                $"| {trial + 1} | {steady.GetProperty("psi")} | {shifted} | {after.GetProperty("psi")} |"));
        }

        return "### Drift: v2's PSI on held-out digits (4,000 requests: two full windows), then on digits brightened by +0.5 (defaults: every 4th input sampled, window 500 to 1,000 samples, threshold 0.2)\n\n"
            + "| trial | PSI on held-out digits | shifted requests until drifting | PSI then |\n|---|---|---|---|\n"
            + string.Join('\n', rows) + "\n";
    }

    /// <summary>wrk over 64 users' keys, alternating: no split (all to v2), then a 50/50 split of v1 and v2 (identical weights).</summary>
    private static async Task<string> SplitCostAsync(Server server, TimeSpan each)
    {
        var keys = await server.KeysAsync("split", 64);
        var script = Path.Combine(Path.GetTempPath(), $"aifleet-split-{Guid.NewGuid():N}.lua");
        var body = Body(0, "x", null).ToJsonString();
        await File.WriteAllTextAsync(script,
            "local keys = {" + string.Join(",", keys.Select(k => $"\"{k}\"")) + "}\nlocal n = 0\n"
            + "request = function()\n  n = n + 1\n  return wrk.format(\"POST\", nil, {[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer \" .. keys[(n % #keys) + 1]}, [==[" + body + "]==])\nend\n");
        var endpoint = new Uri(server.BaseUri, "/v2/models/digits/infer");
        var rows = new List<(string Mode, LoadGenerator.Result Result)>();
        for (var round = -1; round < 3; round++)
        {
            foreach (var split in new[] { false, true })
            {
                await server.PutAsync("/v1/admin/models/digits/traffic", split
                    ? new { defaultVersion = "2", split = new object[] { new { version = "1", percent = 50.0 }, new { version = "2", percent = 50.0 } } }
                    : (object)new { defaultVersion = "2" });
                await Task.Delay(1500);
                var result = await LoadGenerator.RunScriptAsync(endpoint, script, 64, round < 0 ? TimeSpan.FromSeconds(5) : each);
                if (round >= 0)
                {
                    rows.Add((split ? "50/50 split" : "no split", result)); // round -1 warms both modes up (JIT, replicas, batchers)
                }
            }
        }

        File.Delete(script);
        var plain = rows.Where(r => r.Mode == "no split").Average(r => r.Result.RequestsPerSecond);
        var split50 = rows.Where(r => r.Mode != "no split").Average(r => r.Result.RequestsPerSecond);
        return $"### The cost of an active split: /v2 digits, 64 connections over 64 users, {each.TotalSeconds:0} s runs alternating\n\n"
            + "| run | mode | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|\n"
            + string.Join('\n', rows.Select((r, i) => FormattableString.Invariant($"| {i + 1} | {r.Mode} | {r.Result.RequestsPerSecond:N0} | {r.Result.P50Ms:0.00} | {r.Result.P99Ms:0.00} | {r.Result.Errors} |")))
            + FormattableString.Invariant($"\n\nMean: no split {plain:N0} req/s, 50/50 split {split50:N0} req/s: the split costs {(1 - (split50 / plain)):P1} of throughput.\n");
    }

    private static JsonObject Body(int image, string? id, Func<float, float>? shift)
    {
        var pixels = HeldOut.GetProperty("pixels")[image].EnumerateArray().Select(v => (JsonNode)(shift?.Invoke(v.GetSingle()) ?? v.GetSingle())).ToArray();
        var body = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject { ["name"] = "pixels", ["shape"] = new JsonArray(1, 64), ["datatype"] = "FP32", ["data"] = new JsonArray(pixels) }),
        };
        if (id is not null)
        {
            body["id"] = id;
        }

        return body;
    }

    private static string? Option(string[] args, string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();

    /// <summary>client-api's embedded default on a copy of digits, with its admin client and helpers.</summary>
    private sealed class Server : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly HttpClient _http;

        private Server(Process process, Uri baseUri)
        {
            _process = process;
            BaseUri = baseUri;
            _http = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromMinutes(2) };
            _http.DefaultRequestHeaders.Authorization = new("Bearer", LoadGenerator.Key);
        }

        public Uri BaseUri { get; }

        /// <summary>With <paramref name="identicalVersions"/>, version 1 is a copy of version 2, so a split between them changes no work.</summary>
        public static async Task<Server> StartAsync(bool identicalVersions)
        {
            var repo = TestRepository.Create("digits", ("digits", _ => { }));
            if (identicalVersions)
            {
                File.Copy(Path.Combine(repo, "digits", "2", "model.onnx"), Path.Combine(repo, "digits", "1", "model.onnx"), overwrite: true);
            }

            var root = Path.GetDirectoryName(TestRepository.Shipped)!;
            var clientApi = Directory.EnumerateFiles(Path.Combine(root, "client-api", "bin", "Release"), "Orleans.AiFleet.ClientApi.dll", SearchOption.AllDirectories).First();
            var baseUri = new Uri($"http://127.0.0.1:{Processes.FreePort()}");
            var process = Processes.Start("dotnet", $"\"{clientApi}\"", new()
            {
                ["Urls"] = baseUri.ToString(),
                ["AiFleet__Grpc__Port"] = "0", // gRPC off: benchmarks run beside other servers
                ["AiFleet__Models__Path"] = repo,
                ["AiFleet__Embedded__SiloPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
                ["AiFleet__Embedded__GatewayPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
                ["Logging__LogLevel__Default"] = "Warning",
                ["AiFleet__Auth__AdminKey"] = LoadGenerator.Key,
            });
            await Processes.WaitReadyAsync("client-api", process, baseUri, "/health/ready");
            return new Server(process, baseUri);
        }

        public async Task<string[]> KeysAsync(string prefix, int count)
        {
            var keys = new string[count];
            for (var i = 0; i < count; i++)
            {
                using var created = await _http.PostAsJsonAsync("/v1/admin/keys", new { user = $"{prefix}-{i}", role = "user" });
                keys[i] = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
            }

            return keys;
        }

        public async Task PutAsync(string path, object body) => (await _http.PutAsJsonAsync(path, body)).EnsureSuccessStatusCode();

        public async Task DeleteAsync(string path) => (await _http.DeleteAsync(path)).EnsureSuccessStatusCode();

        public async Task<string> StartAsync(object spec)
        {
            using var response = await _http.PostAsJsonAsync("/v1/admin/experiments", spec);
            response.EnsureSuccessStatusCode();
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        }

        public Task<JsonElement> ExperimentAsync(string id) => _http.GetFromJsonAsync<JsonElement>($"/v1/experiments/{id}");

        public async Task<JsonElement> VersionAsync(string model, string version) =>
            (await _http.GetFromJsonAsync<JsonElement>("/v1/experiments")).GetProperty("models").EnumerateArray()
                .Single(m => m.GetProperty("model").GetString() == model).GetProperty("versions").EnumerateArray()
                .Single(v => v.GetProperty("version").GetString() == version);

        public Task<HttpResponseMessage> InferAsync(string key, int image, string? id, Func<float, float>? shift = null)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/digits/infer")
            {
                Content = new StringContent(Body(image, id, shift).ToJsonString(), Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new("Bearer", key);
            return _http.SendAsync(request);
        }

        public async Task FeedbackAsync(string key, string id, int label)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/feedback") { Content = JsonContent.Create(new { model = "digits", id, label }) };
            request.Headers.Authorization = new("Bearer", key);
            (await _http.SendAsync(request)).EnsureSuccessStatusCode();
        }

        public async ValueTask DisposeAsync()
        {
            _http.Dispose();
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
