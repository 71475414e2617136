using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Orleans.AiFleet.GrainInterfaces.Fleet;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// A client that hangs up stops its work on every path: the remote provider's HTTP call is cancelled (streamed and
/// not), embeddings leave the replicas' queues and stop their runs, and each is settled at what was used: no hold,
/// and nothing in flight, within a second.
/// </summary>
public sealed class RemoteHangUpTests(CatalogueApiFixture fixture) : IClassFixture<CatalogueApiFixture>
{
    private const string Budget = "gpt-4.1-nano";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AClientHangingUpOnARemoteChat_CancelsTheProvidersCall_AndSettlesWhatWasUsed(bool stream)
    {
        var user = $"remote-hangup-{stream}-{Guid.NewGuid():N}";
        using var http = fixture.HangingUpClient(await fixture.NewUserKeyAsync(user, "standard"));
        fixture.Provider.Set(Budget, new FakeBehaviour(TokenDelayMs: 100)); // 16 tokens: 1.5 s
        try
        {
            var aborted = fixture.Provider.Aborted(Budget);
            using var hangUp = new CancellationTokenSource();
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = JsonContent.Create(new { model = "budget-chat", stream, max_tokens = 16, messages = new[] { new { role = "user", content = "Tell me a story" } } }),
            };
            var call = http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, hangUp.Token);
            if (stream)
            {
                using var response = await call;
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                Assert.StartsWith("data: {", await reader.ReadLineAsync()); // the first token has arrived: hang up mid-stream
            }
            else
            {
                await Task.Delay(400);
                Assert.False(call.IsCompleted, "the answer came before the client hung up");
                await hangUp.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
            }

            var clock = Stopwatch.StartNew();
            while (fixture.Provider.Aborted(Budget) == aborted || await OpenHoldsAsync(http) > 0)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5),
                    $"5 s after the client hung up: provider calls aborted {fixture.Provider.Aborted(Budget) - aborted}, holds {await OpenHoldsAsync(http)}; {fixture.Provider.Describe()}");
                await Task.Delay(20);
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.ElapsedMilliseconds} ms");
            var spent = (await http.GetFromJsonAsync<JsonElement>("/v1/budget")).GetProperty("spentToday").GetDecimal();
            var whole = 0.001m * (4 + 7 + 16) / 1000m; // the whole answer: the fake's usage at the model's price
            Assert.True(spent > 0 && spent < whole, $"charged {spent}; the part used is more than nothing and less than {whole}");
        }
        finally
        {
            fixture.Provider.Set(Budget, new FakeBehaviour());
        }
    }

    private static async Task<int> OpenHoldsAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<JsonElement>("/v1/budget")).GetProperty("openReservations").GetInt32();
}

/// <summary>Embeddings and KServe: a hang-up takes the request's queued parts off the replicas and stops its running ONNX run.</summary>
[Collection(ApiCollection.Name)]
public sealed partial class LocalHangUpTests(ApiFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>The most inputs an embeddings request may carry, each near the most tokens: some 0.5 s of work on two replicas.</summary>
    private const int Parts = 2048;

    [Fact]
    public async Task AClientHangingUpOnALongEmbeddingsRequest_LeavesNoHold_NoQueue_AndStopsItsRuns()
    {
        var user = $"embed-hangup-{Guid.NewGuid():N}";
        using var http = fixture.Client(await fixture.NewUserKeyAsync(user));
        var words = "in the beginning god created the heaven and the earth and the earth was without form and void".Split(' ');
        string[] Inputs(int salt) => Enumerable.Range(0, Parts)
            .Select(i => string.Join(' ', Enumerable.Range(0, 240).Select(j => words[(i * 7 + j * 3) % words.Length])) + $" {salt} {i}").ToArray();

        var spentBefore = (await http.GetFromJsonAsync<JsonElement>("/v1/budget")).GetProperty("spentToday").GetDecimal();
        var cancelledBefore = await CountAsync("aifleet_inference_requests_total", "text-encoder", "outcome=\"cancelled\"");
        var completedBefore = await CompletedNowAsync();
        using var hangUp = new CancellationTokenSource();
        var call = http.PostAsJsonAsync("/v1/embeddings", new { model = "text-encoder", input = Inputs(2) }, hangUp.Token);
        var clock = Stopwatch.StartNew();
        while (await QueuedNowAsync() < 32) // hang up once its parts wait in the replicas' queues
        {
            Assert.False(call.IsCompleted, "the request ended before its parts reached the replicas");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "the request's parts never reached the replicas");
            await Task.Delay(5);
        }

        await hangUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);

        // Live: the replicas' queues and the user's holds.
        clock.Restart();
        while (true)
        {
            var holds = (await http.GetFromJsonAsync<JsonElement>("/v1/budget")).GetProperty("openReservations").GetInt32();
            var queued = await QueuedNowAsync();
            if (holds == 0 && queued == 0)
            {
                break;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{holds} holds and {queued} queued 5 s after the client hung up");
            await Task.Delay(20);
        }

        var settled = clock.Elapsed;
        output.WriteLine($"no hold and nothing queued {settled.TotalMilliseconds:0} ms after the hang-up");
        Assert.True(settled < TimeSpan.FromSeconds(3), $"took {settled.TotalMilliseconds:0} ms"); // 2,048 grain calls to cancel, on two busy cores

        // As the fleet last heard: the routers' in-flight counts, reported every 250 ms.
        while ((await LoadAsync()).InFlight > 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "requests still in flight 5 s after the client hung up");
            await Task.Delay(50);
        }

        output.WriteLine($"and nothing in flight in the fleet's reports {clock.ElapsedMilliseconds} ms after it");
        var completed = await CompletedNowAsync() - completedBefore;
        var cancelled = await CountAsync("aifleet_inference_requests_total", "text-encoder", "outcome=\"cancelled\"") - cancelledBefore;
        output.WriteLine($"{completed} of the request's {Parts} parts ran; {cancelled} were counted cancelled by the last scrape");
        Assert.True(completed < Parts, "every part of the request ran: the hang-up took none off the replicas");
        Assert.Equal(spentBefore, (await http.GetFromJsonAsync<JsonElement>("/v1/budget")).GetProperty("spentToday").GetDecimal()); // nothing was delivered
    }

    /// <summary>Requests text-encoder's replicas have answered so far, asked of each replica.</summary>
    private async Task<long> CompletedNowAsync()
    {
        var table = await fixture.Grains.GetGrain<IModelFleetGrain>("text-encoder").GetRoutingTableAsync("1");
        var statuses = await Task.WhenAll(table.Replicas.Select(r => fixture.Grains.GetGrain<IModelReplicaGrain>(r).GetStatusAsync()));
        return statuses.Sum(s => s.CompletedRequests);
    }

    /// <summary>Requests waiting in text-encoder's replicas' queues now, asked of each replica.</summary>
    private async Task<int> QueuedNowAsync()
    {
        var table = await fixture.Grains.GetGrain<IModelFleetGrain>("text-encoder").GetRoutingTableAsync("1");
        var statuses = await Task.WhenAll(table.Replicas.Select(r => fixture.Grains.GetGrain<IModelReplicaGrain>(r).GetStatusAsync()));
        return statuses.Sum(s => s.QueueLength);
    }

    /// <summary>Requests the routers have in flight on text-encoder's replicas, and requests queued in them, as last reported.</summary>
    private async Task<(int InFlight, int Queued)> LoadAsync()
    {
        var fleet = await fixture.Http.GetFromJsonAsync<JsonElement>("/v1/fleet/text-encoder");
        var loads = fleet.GetProperty("versions").EnumerateArray().SelectMany(v => v.GetProperty("loads").EnumerateArray()).ToArray();
        return (loads.Sum(l => l.GetProperty("inFlight").GetInt32()), loads.Sum(l => l.GetProperty("queueLength").GetInt32()));
    }

    /// <summary>The sum of a counter's series for a model whose labels contain <paramref name="label"/>.</summary>
    private async Task<double> CountAsync(string name, string model, string label)
    {
        var text = await fixture.Http.GetStringAsync("/metrics");
        return Series().Matches(text)
            .Where(m => m.Groups["name"].Value == name && m.Groups["labels"].Value.Contains($"model=\"{model}\"") && m.Groups["labels"].Value.Contains(label))
            .Sum(m => double.Parse(m.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"^(?<name>[a-z_]+)\{(?<labels>[^}]*)\} (?<value>[0-9.e+]+)", RegexOptions.Multiline)]
    private static partial Regex Series();
}
