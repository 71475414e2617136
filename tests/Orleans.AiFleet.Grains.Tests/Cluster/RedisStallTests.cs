using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Tests.Cluster;

/// <summary>
/// A Redis that stalls for 10 s (SIGSTOP) while several users send KServe and embedding traffic, then resumes: every
/// user is served again at once, no hold stays open and each ledger adds up to its user's spend. Before the write loop
/// fix a busy user's budget kept a finished write task after a synchronous store failure and hung every later call.
/// The users are students of one class of one school, so every hold also draws on the class's and the school's
/// budgets through their slices: after the stall those hold nothing either, and their ledgers sum the students'.
/// </summary>
public sealed class RedisStallTests(PostgresFixture postgres, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    private const int Users = 4;

    [Fact]
    public async Task RedisStalledTenSecondsUnderLoad_EveryUserServedAgainSoonAfter_NoHoldOpen_LedgersExact()
    {
        await using var redis = await OwnRedis.StartAsync();
        using var host = await TestHosts.StartClusterSiloAsync(postgres.ConnectionString, $"stall-{Guid.NewGuid():N}", TestHosts.FreePort(), TestHosts.FreePort(), redis.Address);
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var router = grains.GetGrain<IInferenceRouterGrain>(0);
        var users = Enumerable.Range(0, Users).Select(i => $"stall-{i}-{Guid.NewGuid():N}").ToArray();
        var school = $"stall-{Guid.NewGuid():N}"[..20];
        await Task.WhenAll(users.Select(u => grains.GetGrain<IUserBudgetGrain>(u).SetParentsAsync(school, ["class"])));
        var lastServed = new ConcurrentDictionary<string, long>();
        var served = 0;
        var refused = 0;
        using var stop = new CancellationTokenSource();

        // Two clients a user: KServe digits (leased slices) and embeddings (a hold per request), each text new so the
        // response cache never answers for free.
        var load = users.SelectMany(user => new Func<int, Task>[]
        {
            i => router.InferAsync(Samples.Digit("digits", i % Samples.DigitCount) with { User = user }),
            i => router.EmbedAsync(new EmbeddingRequest(user, "text-encoder", [$"stalled store {user} {i}"], null)),
        }.Select(call => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    using var each = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    await call(i).WaitAsync(each.Token);
                    lastServed[user] = Stopwatch.GetTimestamp();
                    Interlocked.Increment(ref served);
                }
                catch (Exception e) when (e is AiFleetException or OrleansException or TimeoutException or OperationCanceledException)
                {
                    Interlocked.Increment(ref refused);
                    await Task.Delay(50, CancellationToken.None); // a client backing off after a 503
                }
            }
        }))).ToArray();

        await Eventually.TrueAsync(() => Task.FromResult(users.All(lastServed.ContainsKey) && Volatile.Read(ref served) >= 200), "every user served, 200 requests in all, before the stall", TimeSpan.FromSeconds(60));
        var servedBefore = served;
        redis.Signal("STOP");
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(10)); // the stall itself: the fault lasts this long by design
        }
        finally
        {
            redis.Signal("CONT");
        }

        var resumed = Stopwatch.GetTimestamp();
        await Eventually.TrueAsync(
            () => Task.FromResult(users.All(u => lastServed.TryGetValue(u, out var at) && at > resumed)),
            "every user served again after Redis resumed",
            TimeSpan.FromSeconds(30));
        var slowest = users.Max(u => Stopwatch.GetElapsedTime(resumed, lastServed[u]));
        output.WriteLine($"{Users} users × 2 clients; served {servedBefore} before the stall, refused {refused} during it; every user served again {slowest.TotalMilliseconds:0} ms after SIGCONT");
        Assert.True(slowest < TimeSpan.FromSeconds(5), $"the slowest user was served again only {slowest.TotalSeconds:0.0} s after Redis resumed");

        await stop.CancelAsync();
        await Task.WhenAll(load);

        // Slices idle for BudgetLeases.IdleReturn are settled: then no hold is open, and every ledger is exact.
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var students = 0m;
        foreach (var user in users)
        {
            var budget = grains.GetGrain<IUserBudgetGrain>(user);
            await Eventually.TrueAsync(async () => (await budget.GetStatusAsync()).OpenReservations == 0, $"{user}'s holds all ended", TimeSpan.FromSeconds(30));
            var status = await budget.GetStatusAsync();
            var ledger = await budget.GetLedgerAsync(today.AddDays(-1), today.AddDays(1));
            Assert.Equal(0m, status.Reserved);
            Assert.True(status.SpentToday > 0m, $"{user} was charged nothing");
            Assert.Equal(status.SpentToday, ledger.Sum(e => e.Cost));
            students += status.SpentToday;
        }

        foreach (var parent in new[] { BudgetKeys.Team(school, "class"), BudgetKeys.Org(school) })
        {
            var budget = grains.GetGrain<IUserBudgetGrain>(parent);
            await Eventually.TrueAsync(async () => (await budget.GetStatusAsync()).OpenReservations == 0, $"every slice of {parent} returned", TimeSpan.FromSeconds(30));
            var ledger = await budget.GetLedgerAsync(today.AddDays(-1), today.AddDays(1));
            output.WriteLine($"{parent}: ledger ${ledger.Sum(e => e.Cost)} in {ledger.Count} slice settlements; the students spent ${students}");

            Assert.Equal(students, ledger.Sum(e => e.Cost));
            Assert.Equal(students, (await budget.GetStatusAsync()).SpentToday);
        }

        await host.StopAsync();
    }
}
