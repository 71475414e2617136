using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Orleans.AiFleet.Tests;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// The cost comparison of issue 5: one seeded mixed workload of chat requests (user tiers free, standard and premium;
/// request complexity from trivial to critical, each with its quality floor, some latency-critical, some with long
/// prompts) sent twice to client-api's embedded default serving the shipped catalogue, once as <c>auto</c> with each
/// request's policy under its user's tier, once to the premium model for every request (which meets every floor).
/// The remote tiers are a loopback fake provider answering at once; chat-lm decodes for real. Spend is read back
/// from the ledger (<c>/v1/admin/usage</c>), not summed by the benchmark.
/// </summary>
internal static class RoutingBench
{
    private sealed record Request(string User, string Tier, double Floor, int? LatencyMs, string Prompt, int MaxTokens, string Complexity);

    /// <summary>The shipped catalogue's chat models (models/*/config.json), as the workload generator needs them.</summary>
    private static readonly (string Name, string Tier, double Quality, int P95)[] Catalogue = Directory
        .EnumerateFiles(TestRepository.Shipped, "config.json", SearchOption.AllDirectories)
        .Select(path => (Name: Path.GetFileName(Path.GetDirectoryName(path))!, Config: JsonNode.Parse(File.ReadAllText(path))!))
        .Where(m => m.Config["generation"] is not null || m.Config["remote"] is not null)
        .Select(m => (m.Name, m.Config["tier"]!.GetValue<string>(), m.Config["quality"]!.GetValue<double>(), m.Config["p95LatencyMs"]!.GetValue<int>()))
        .ToArray();

    /// <summary>models/routing.json's user tiers ("*": every model tier).</summary>
    private static readonly Dictionary<string, string[]> AllowedTiers = JsonNode
        .Parse(File.ReadAllText(Path.Combine(TestRepository.Shipped, "routing.json")))!["userTiers"]!.AsObject()
        .ToDictionary(t => t.Key, t => t.Value!.AsArray().Select(v => v!.GetValue<string>()) is var tiers && tiers.Contains("*")
            ? Catalogue.Select(m => m.Tier).Distinct().ToArray()
            : tiers.ToArray());

    private static readonly Dictionary<string, double> Quality = Catalogue.ToDictionary(m => m.Name, m => m.Quality);

    public static async Task<string> RunAsync(string[] args)
    {
        var count = int.Parse(Option(args, "--requests") ?? "10000", CultureInfo.InvariantCulture);
        var seed = int.Parse(Option(args, "--seed") ?? "42", CultureInfo.InvariantCulture);
        var concurrency = int.Parse(Option(args, "--concurrency") ?? "32", CultureInfo.InvariantCulture);
        await using var provider = await FakeOpenAiProvider.StartAsync();
        var repo = TestRepository.WithProviders(provider.BaseUrl, FakeOpenAiProvider.KeyVariable, FakeOpenAiProvider.Key);
        var root = Path.GetDirectoryName(TestRepository.Shipped)!;
        var clientApi = Directory.EnumerateFiles(Path.Combine(root, "client-api", "bin", "Release"), "Orleans.AiFleet.ClientApi.dll", SearchOption.AllDirectories).First();
        var port = Processes.FreePort();
        var baseUri = new Uri($"http://127.0.0.1:{port}");
        using var server = Processes.Start("dotnet", $"\"{clientApi}\"", new()
        {
            ["Urls"] = baseUri.ToString(),
            ["AiFleet__Grpc__Port"] = "0", // gRPC off: benchmarks run beside other servers
            ["AiFleet__Models__Path"] = repo,
            ["AiFleet__Embedded__SiloPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
            ["AiFleet__Embedded__GatewayPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Logging__LogLevel__Default"] = "Warning",
            ["AiFleet__Auth__AdminKey"] = LoadGenerator.Key,
        });
        try
        {
            await Processes.WaitReadyAsync("client-api", server, baseUri, "/health/ready");
            using var admin = new HttpClient { BaseAddress = baseUri, Timeout = TimeSpan.FromMinutes(2) };
            admin.DefaultRequestHeaders.Authorization = new("Bearer", LoadGenerator.Key);

            var workload = Generate(count, seed);
            var report = new StringBuilder();
            report.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; {count:N0} requests, seed {seed}, {concurrency} in flight.");
            report.AppendLine();
            report.AppendLine("Workload:");
            foreach (var group in workload.GroupBy(r => (r.Complexity, r.Floor)).OrderBy(g => g.Key.Floor))
            {
                report.AppendLine(CultureInfo.InvariantCulture, $"- {group.Key.Complexity} (quality >= {group.Key.Floor:0.00}): {group.Count():N0} requests, {group.Count(r => r.LatencyMs is not null):N0} latency-critical, {group.Count(r => r.Prompt.Length > 512):N0} with long prompts");
            }

            report.AppendLine(CultureInfo.InvariantCulture, $"- users: {string.Join(", ", workload.GroupBy(r => r.Tier).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count():N0} requests"))}");
            report.AppendLine();

            var aware = await RunPassAsync(admin, baseUri, workload, "aware", concurrency, premium: false);
            var premium = await RunPassAsync(admin, baseUri, workload, "premium", concurrency, premium: true);
            report.AppendLine("| run | spend (ledger) | requests ok | failed | below floor | wall s | p50 ms | p99 ms |");
            report.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var pass in new[] { aware, premium })
            {
                report.AppendLine(CultureInfo.InvariantCulture,
                    $"| {pass.Name} | ${pass.Spend:0.0000} | {pass.Ok:N0} | {pass.Failed:N0} | {pass.BelowFloor:N0} | {pass.Wall.TotalSeconds:0.0} | {pass.P50:0.0} | {pass.P99:0.0} |");
            }

            report.AppendLine();
            report.AppendLine(CultureInfo.InvariantCulture, $"Cost-aware spend / always-premium spend: **{aware.Spend / premium.Spend:P1}** (goal <= 40 %).");
            report.AppendLine();
            report.AppendLine("Where cost-aware routing sent the requests:");
            report.AppendLine();
            report.AppendLine("| model | requests | spend | by route |");
            report.AppendLine("|---|---:|---:|---|");
            foreach (var (model, n) in aware.Models.OrderByDescending(m => m.Value))
            {
                report.AppendLine(CultureInfo.InvariantCulture,
                    $"| {model} | {n:N0} | ${aware.SpendByModel.GetValueOrDefault(model):0.0000} | {string.Join(", ", aware.Routes.Where(r => r.Key.StartsWith(model + ":", StringComparison.Ordinal)).Select(r => $"{r.Key[(model.Length + 1)..]} {r.Value:N0}"))} |");
            }

            return report.ToString();
        }
        finally
        {
            server.Kill(entireProcessTree: true);
        }
    }

    private sealed record Pass(string Name, decimal Spend, int Ok, int Failed, int BelowFloor, TimeSpan Wall, double P50, double P99,
        Dictionary<string, int> Models, Dictionary<string, int> Routes, Dictionary<string, decimal> SpendByModel);

    private static async Task<Pass> RunPassAsync(HttpClient admin, Uri baseUri, IReadOnlyList<Request> workload, string prefix, int concurrency, bool premium)
    {
        // One key per user (users named per pass, so each pass's spend is its own in the ledger).
        var keys = new Dictionary<string, string>();
        foreach (var (user, tier) in workload.Select(r => (r.User, r.Tier)).Distinct())
        {
            var created = await admin.PostAsJsonAsync("/v1/admin/keys", new { user = $"{prefix}-{user}", role = "user", tier = premium ? "premium" : tier });
            created.EnsureSuccessStatusCode();
            keys[user] = (await created.Content.ReadFromJsonAsync<JsonObject>())!["key"]!.GetValue<string>();
        }

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { BaseAddress = baseUri, Timeout = TimeSpan.FromMinutes(2) };
        var models = new ConcurrentDictionary<string, int>();
        var routes = new ConcurrentDictionary<string, int>();
        var latencies = new ConcurrentBag<double>();
        int ok = 0, failed = 0, below = 0;
        var next = -1;
        Console.Error.WriteLine($"routing bench: {prefix} pass, {workload.Count} requests");
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < workload.Count)
            {
                var r = workload[i];
                using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
                {
                    Content = JsonContent.Create(premium
                        ? new { model = "premium-chat", messages = new[] { new { role = "user", content = r.Prompt } }, max_tokens = r.MaxTokens, temperature = 0.7, min_quality = (double?)null, max_latency_ms = (int?)null }
                        : new { model = "auto", messages = new[] { new { role = "user", content = r.Prompt } }, max_tokens = r.MaxTokens, temperature = 0.7, min_quality = (double?)r.Floor, max_latency_ms = r.LatencyMs }),
                };
                message.Headers.Authorization = new("Bearer", keys[r.User]);
                var started = Stopwatch.GetTimestamp();
                using var response = await http.SendAsync(message);
                await response.Content.ReadAsByteArrayAsync();
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                {
                    if (Interlocked.Increment(ref failed) <= 5)
                    {
                        Console.Error.WriteLine($"  {(int)response.StatusCode} for {r}");
                    }

                    continue;
                }

                Interlocked.Increment(ref ok);
                var model = response.Headers.GetValues("x-aifleet-model").First().Split('/')[0];
                var route = response.Headers.GetValues("x-aifleet-route").First();
                models.AddOrUpdate(model, 1, (_, n) => n + 1);
                routes.AddOrUpdate($"{model}:{route}", 1, (_, n) => n + 1);
                if (Quality[model] < r.Floor)
                {
                    Interlocked.Increment(ref below);
                }
            }
        }));
        wall.Stop();

        var usage = (await admin.GetFromJsonAsync<JsonArray>("/v1/admin/usage"))!;
        var spendByModel = new Dictionary<string, decimal>();
        var spend = 0m;
        foreach (var user in usage.Where(u => u!["user"]!.GetValue<string>().StartsWith(prefix + "-", StringComparison.Ordinal)))
        {
            spend += user!["totalSpend"]!.GetValue<decimal>();
            foreach (var row in user["rows"]!.AsArray())
            {
                var model = row!["model"]!.GetValue<string>();
                spendByModel[model] = spendByModel.GetValueOrDefault(model) + row["spend"]!.GetValue<decimal>();
            }
        }

        var sorted = latencies.Order().ToArray();
        return new Pass(prefix == "aware" ? "cost-aware (auto)" : "always premium", spend, ok, failed, below, wall.Elapsed,
            sorted[sorted.Length / 2], sorted[(int)(sorted.Length * 0.99)], new(models), new(routes), spendByModel);
    }

    /// <summary>
    /// The seeded mix. Users: 30 % free, 50 % standard, 20 % premium (60 users). Complexity sets the quality floor:
    /// trivial 0.80 (35 %), simple 0.85 (25 %), moderate 0.88 (20 %), complex 0.90 (12 %), critical 0.95 (8 %),
    /// capped at what the user's tier can reach (free: 0.88, standard: 0.90). A quarter of the requests carry a
    /// latency ceiling (up to 2,000 ms, never below what the floor's fastest model keeps); 15 % have prompts longer than the self-hosted model's context.
    /// </summary>
    private static List<Request> Generate(int count, int seed)
    {
        var random = new Random(seed);
        string[] words = ["light", "water", "earth", "heaven", "day", "night", "seed", "tree", "fruit", "beast", "man", "woman", "river", "garden",
            "morning", "evening", "stars", "sea", "grass", "herb", "fowl", "cattle", "spirit", "face", "deep", "form", "void", "good"];
        var users = Enumerable.Range(0, 60).Select(i => (Name: $"user{i:00}", Tier: i < 18 ? "free" : i < 48 ? "standard" : "premium")).ToArray();
        var requests = new List<Request>(count);
        for (var i = 0; i < count; i++)
        {
            var user = users[random.Next(users.Length)];
            var draw = random.NextDouble();
            var (complexity, floor) = draw switch
            {
                < 0.35 => ("trivial", 0.80),
                < 0.60 => ("simple", 0.85),
                < 0.80 => ("moderate", 0.88),
                < 0.92 => ("complex", 0.90),
                _ => ("critical", 0.95),
            };
            var cap = user.Tier switch { "free" => 0.88, "standard" => 0.90, _ => 0.95 };
            if (floor > cap)
            {
                (complexity, floor) = (complexity + " (capped)", cap);
            }

            var length = random.NextDouble() < 0.15 ? 100 + random.Next(300) : 5 + random.Next(40);

            // A ceiling that some model the user may use and that meets the floor can keep (chat-lm only for short prompts).
            var fastest = Catalogue
                .Where(m => m.Quality >= floor && (m.Name != "chat-lm" || length < 60) && AllowedTiers[user.Tier].Contains(m.Tier))
                .Min(m => m.P95);
            fastest = Math.Max(fastest, 500);
            int? latency = random.NextDouble() < 0.25 ? fastest + (100 * random.Next(((2000 - fastest) / 100) + 1)) : null;
            var prompt = string.Join(' ', Enumerable.Range(0, length).Select(_ => words[random.Next(words.Length)]));
            requests.Add(new Request(user.Name, user.Tier, floor, latency, prompt, 16 + random.Next(33), complexity));
        }

        return requests;
    }

    private static string? Option(string[] args, string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
}
