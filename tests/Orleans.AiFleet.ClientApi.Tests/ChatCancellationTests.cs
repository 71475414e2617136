using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// Streamed chats run inside the router; a client that hangs up mid-stream stops the decoding on the replica and the
/// router settles what was sent, for 100 clients at once. A stream that would pass its hold ends early, saying why,
/// and is charged what it delivered.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class ChatCancellationTests(ApiFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task AHundredStreamingClientsHangingUp_LeaveNoHold_AndNoWorkInFlight()
    {
        var user = $"hangup-{Guid.NewGuid():N}";
        using var http = fixture.HangingUpClient(await fixture.NewUserKeyAsync(user));

        await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = JsonContent.Create(new { model = "chat-lm", stream = true, max_tokens = 500, temperature = 0.8, seed = i, messages = new[] { new { role = "user", content = "And God said" } } }),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var seen = new System.Text.StringBuilder();
            for (var events = 0; events < 3;)
            {
                var line = await reader.ReadLineAsync();
                Assert.True(line is not null, $"stream {i} ended after {events} events: {seen}"); // it was still going when the client left
                seen.AppendLine(line);
                events += line.StartsWith("data: {", StringComparison.Ordinal) ? 1 : 0;
            }
        })); // each client hangs up after a few tokens

        var clock = Stopwatch.StartNew();
        while (true)
        {
            var holds = (await http.GetFromJsonAsync<JsonElement>("/v1/budget")).GetProperty("openReservations").GetInt32();
            var fleet = await fixture.Http.GetFromJsonAsync<JsonElement>("/v1/fleet/chat-lm");
            var inFlight = fleet.GetProperty("versions").EnumerateArray().SelectMany(v => v.GetProperty("loads").EnumerateArray()).Sum(l => l.GetProperty("inFlight").GetInt32());
            if (holds == 0 && inFlight == 0)
            {
                break;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{holds} holds and {inFlight} requests in flight 5 s after 100 clients hung up");
            await Task.Delay(50);
        }

        output.WriteLine($"no hold and nothing in flight {clock.ElapsedMilliseconds} ms after the last client hung up (replicas report every 250 ms)");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"took {clock.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task NonStreamedChatClientsHangingUp_StopTheDecoding_AndLeaveNoHold()
    {
        var user = $"hangup-whole-{Guid.NewGuid():N}";
        using var http = fixture.HangingUpClient(await fixture.NewUserKeyAsync(user));

        // Hang up once chats are decoding: their holds are open.
        using var hangUp = new CancellationTokenSource();
        var calls = Enumerable.Range(0, 20).Select(i => http.PostAsJsonAsync("/v1/chat/completions",
            new { model = "chat-lm", max_tokens = 500, temperature = 0.8, seed = i, messages = new[] { new { role = "user", content = "And God said" } } },
            hangUp.Token)).ToArray();
        for (var waited = Stopwatch.StartNew(); (await http.GetFromJsonAsync<JsonElement>("/v1/budget")).GetProperty("openReservations").GetInt32() < 5; await Task.Delay(2))
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(20), "five chats were never decoding at once within 20 s");
        }

        await hangUp.CancelAsync();
        foreach (var call in calls)
        {
            try
            {
                (await call).Dispose(); // one that finished before the hang-up
            }
            catch (OperationCanceledException)
            {
            }
        }

        var clock = Stopwatch.StartNew();
        while ((await http.GetFromJsonAsync<JsonElement>("/v1/budget")).GetProperty("openReservations").GetInt32() > 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), "holds outlived their hung-up clients by 1 s");
            await Task.Delay(20);
        }

        // The ledger says how each chat was settled (it is written a moment after the settlement).
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var budget = fixture.Grains.GetGrain<Orleans.AiFleet.GrainInterfaces.Budgets.IUserBudgetGrain>(user);
        IReadOnlyList<Orleans.AiFleet.GrainInterfaces.Budgets.LedgerEntry> ledger = [];
        var cancelled = 0;
        for (var waited = Stopwatch.StartNew(); cancelled == 0 && waited.Elapsed < TimeSpan.FromSeconds(5); await Task.Delay(100))
        {
            ledger = await budget.GetLedgerAsync(today.AddDays(-1), today.AddDays(1));
            cancelled = ledger.Count(e => e.Outcome == "cancelled");
        }

        output.WriteLine($"no hold {clock.ElapsedMilliseconds} ms after 20 clients hung up; settled: {string.Join(", ", ledger.GroupBy(e => e.Outcome).Select(g => $"{g.Count()} {g.Key}"))}");
        Assert.True(cancelled > 0, "every chat ran to its end although its client had gone");
    }
}
