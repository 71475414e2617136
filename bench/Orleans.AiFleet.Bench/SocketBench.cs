using System.Diagnostics;
using System.Globalization;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.Bench;

/// <summary>
/// What re-checking keys on open WebSockets costs: two embedded client-api processes side by side, one asking every
/// second whether each socket's key is still active (ten times the default rate), one every 60 s (the longest allowed,
/// so almost never within a window), measured in alternating windows of KServe digits requests over 64 sockets, 16 of
/// each of 4 user keys (a user holds at most 16). Usage: <c>sockets [--windows N] [--seconds S]</c>.
/// </summary>
internal static class SocketBench
{
    private const int Sockets = 64;

    private const int Users = 4;

    public static async Task<string> RunAsync(string[] args)
    {
        var windows = Option(args, "--windows", 3);
        var seconds = Option(args, "--seconds", 10);
        var repo = Processes.FindUp("models", d => File.Exists(Path.Combine(d, "digits", "config.json")));
        var clientApi = Directory.EnumerateFiles(Path.Combine(Path.GetDirectoryName(repo)!, "client-api", "bin", "Release"), "Orleans.AiFleet.ClientApi.dll", SearchOption.AllDirectories).First();
        var servers = new[] { ("every 1 s", 1), ("every 60 s", 60) }.Select(s => (Name: s.Item1, Server: Start(clientApi, repo, s.Item2))).ToArray();
        try
        {
            var keys = new string[servers.Length][];
            for (var i = 0; i < servers.Length; i++)
            {
                await Processes.WaitReadyAsync(servers[i].Name, servers[i].Server.Process, servers[i].Server.Base, "/health/ready");
                keys[i] = await Task.WhenAll(Enumerable.Range(0, Users).Select(u => UserKeyAsync(servers[i].Server.Base, $"socket-bench-{u}")));
                await MeasureAsync(servers[i].Server.Base, keys[i], TimeSpan.FromSeconds(8)); // warm-up
            }

            var rates = servers.Select(_ => new List<double>()).ToArray();
            for (var w = 0; w < windows; w++)
            {
                for (var i = 0; i < servers.Length; i++)
                {
                    Console.Error.WriteLine($"window {w + 1}: re-check {servers[i].Name}");
                    rates[i].Add(await MeasureAsync(servers[i].Server.Base, keys[i], TimeSpan.FromSeconds(seconds)));
                }
            }

            var report = new StringBuilder().Append(CultureInfo.InvariantCulture, $"### Re-checking keys on WebSockets: {Sockets} sockets of {Users} user keys, KServe digits, {windows} alternating windows of {seconds} s\n\n");
            report.Append("| key re-check | req/s per window | mean req/s |\n|---|---|---:|\n");
            for (var i = 0; i < servers.Length; i++)
            {
                report.Append(CultureInfo.InvariantCulture, $"| {servers[i].Name} | {string.Join(", ", rates[i].Select(r => r.ToString("N0", CultureInfo.InvariantCulture)))} | {rates[i].Average():N0} |\n");
            }

            report.Append(CultureInfo.InvariantCulture, $"\nRatio (every 1 s / every 60 s): {rates[0].Average() / rates[1].Average():0.00}\n");
            return report.ToString();
        }
        finally
        {
            foreach (var (_, server) in servers)
            {
                server.Process.Kill(entireProcessTree: true);
            }
        }
    }

    private static (Process Process, Uri Base) Start(string clientApi, string repo, int recheckSeconds)
    {
        var port = Processes.FreePort();
        return (Processes.Start("dotnet", $"\"{clientApi}\"", new()
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["AiFleet__Grpc__Port"] = "0",
            ["AiFleet__Models__Path"] = repo,
            ["AiFleet__Embedded__SiloPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
            ["AiFleet__Embedded__GatewayPort"] = Processes.FreePort().ToString(CultureInfo.InvariantCulture),
            ["Logging__LogLevel__Default"] = "Warning",
            ["AiFleet__Auth__AdminKey"] = LoadGenerator.Key,
            ["AiFleet__Auth__SocketRecheckSeconds"] = recheckSeconds.ToString(CultureInfo.InvariantCulture),
        }), new Uri($"http://127.0.0.1:{port}"));
    }

    private static async Task<string> UserKeyAsync(Uri server, string user)
    {
        using var http = new HttpClient { BaseAddress = server };
        http.DefaultRequestHeaders.Add("Authorization", $"Bearer {LoadGenerator.Key}");
        var created = await (await http.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user" })).Content.ReadFromJsonAsync<JsonObject>();
        return created!["key"]!.GetValue<string>();
    }

    /// <summary>Answers per second over <see cref="Sockets"/> sockets, each sending its next request when the last is answered.</summary>
    private static async Task<double> MeasureAsync(Uri server, string[] keys, TimeSpan duration)
    {
        var message = Encoding.UTF8.GetBytes(new JsonObject
        {
            ["id"] = "1", ["model"] = "digits",
            ["inputs"] = new JsonArray(new JsonObject { ["name"] = "pixels", ["datatype"] = "FP32", ["shape"] = new JsonArray(1, 64), ["data"] = new JsonArray(Enumerable.Repeat(0.5, 64).Select(v => (JsonNode)v).ToArray()) }),
        }.ToJsonString());
        var sockets = new List<ClientWebSocket>();
        for (var i = 0; i < Sockets; i++)
        {
            var socket = new ClientWebSocket();
            socket.Options.SetRequestHeader("Authorization", $"Bearer {keys[i % keys.Length]}");
            await socket.ConnectAsync(new Uri($"ws://{server.Authority}/v2/ws"), CancellationToken.None);
            sockets.Add(socket);
        }

        long answered = 0;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(sockets.Select(async socket =>
        {
            var buffer = new byte[8192];
            while (watch.Elapsed < duration)
            {
                await socket.SendAsync(message, WebSocketMessageType.Text, true, CancellationToken.None);
                WebSocketReceiveResult part;
                do
                {
                    part = await socket.ReceiveAsync(buffer, CancellationToken.None);
                }
                while (!part.EndOfMessage);
                Interlocked.Increment(ref answered);
            }
        }));
        var rate = answered / watch.Elapsed.TotalSeconds;
        foreach (var socket in sockets)
        {
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
            socket.Dispose();
        }

        return rate;
    }

    private static int Option(string[] args, string name, int fallback) =>
        args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
}
