using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Tests.Budgets;

/// <summary>A user's budget on the real runtime, on a manual clock (windows, expiry) shared with the fixture.</summary>
public sealed class UserBudgetGrainTests(ManualClockClusterFixture fixture) : IClassFixture<ManualClockClusterFixture>
{
    private IUserBudgetGrain NewUser(out string user)
    {
        user = $"user-{Guid.NewGuid():N}";
        return fixture.Client.GetGrain<IUserBudgetGrain>(user);
    }

    [Fact]
    public async Task Metrics_OpenHoldsFollowHoldsThroughSettleAndExpiry_AndSpendCarriesTheUserTier()
    {
        using var holds = new MetricCollector<long>(fixture.SiloMeters, InferenceMetrics.MeterName, "aifleet.budget.open_holds");
        using var spend = new MetricCollector<double>(fixture.SiloMeters, InferenceMetrics.MeterName, "aifleet.budget.spend_dollars");
        long Open() => holds.GetMeasurementSnapshot().Sum(m => m.Value);
        var budget = NewUser(out _);

        var premium = await budget.ReserveAsync(new ReserveRequest("m", 0.10m, 1, UserTier: "premium"));
        var untiered = await budget.ReserveAsync(new ReserveRequest("m", 0.10m, 1));
        var expiring = await budget.ReserveAsync(new ReserveRequest("m", 0.10m, 1, Ttl: TimeSpan.FromSeconds(30), UserTier: "free"));
        Assert.Equal(3, Open());

        await budget.SettleAsync(new SettleRequest(premium.ReservationId, 0.07m, 1, "ok"));
        Assert.Equal(2, Open());
        fixture.Time.Advance(TimeSpan.FromSeconds(31));
        await budget.SettleAsync(new SettleRequest(untiered.ReservationId, 0.05m, 1, "ok")); // and the 30 s hold has expired
        Assert.Equal(0, Open());
        await budget.SettleAsync(new SettleRequest(expiring.ReservationId, 0.01m, 1, "ok")); // late, still charged
        Assert.Equal(0, Open());

        var charged = spend.GetMeasurementSnapshot().Select(m => (m.Value, Tier: m.Tags["tier"] as string)).ToArray();
        Assert.Equal([(0.07, "premium"), (0.05, "standard"), (0.01, "free")], charged); // no tier: the catalogue's default
    }

    [Fact]
    public async Task Reserve_1000ConcurrentAgainstABudgetFor100_Exactly100Granted_SpendEqualsTheLedger()
    {
        var budget = NewUser(out _);
        await budget.SetLimitsAsync(new BudgetLimits(Daily: 1.00m));

        var results = await Task.WhenAll(Enumerable.Range(0, 1000).Select(_ => budget.ReserveAsync(new ReserveRequest("m", 0.01m, 10))));

        var granted = results.Where(r => r.Granted).ToArray();
        Assert.Equal(100, granted.Length);
        Assert.All(results.Where(r => !r.Granted), r => Assert.Equal(BudgetLimitCodes.Daily, r.RefusedBy));
        Assert.Equal(100, (await budget.GetStatusAsync()).OpenReservations);

        var entries = await Task.WhenAll(granted.Select(r => budget.SettleAsync(new SettleRequest(r.ReservationId, 0.01m, 10, "ok"))));

        var status = await budget.GetStatusAsync();
        Assert.Equal(1.00m, status.SpentToday);
        Assert.Equal(0m, status.Reserved);
        Assert.Equal(0, status.OpenReservations);
        var today = DateOnly.FromDateTime(fixture.Time.GetUtcNow().UtcDateTime);
        var ledger = await budget.GetLedgerAsync(today, today);
        Assert.Equal(100, ledger.Count);
        Assert.Equal(1.00m, ledger.Sum(e => e.Cost));
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), ledger.Select(e => e.Sequence).Order());
        Assert.Equal(entries.Select(e => e!.Sequence).Order(), ledger.Select(e => e.Sequence));
        Assert.False((await budget.ReserveAsync(new ReserveRequest("m", 0.01m, 1))).Granted);
    }

    [Fact]
    public async Task Settle_ChargesWhatWasUsedUpToTheReservation_AndReleasesTheRestAtOnce()
    {
        var budget = NewUser(out _);
        await budget.SetLimitsAsync(new BudgetLimits(Daily: 1.00m));

        var a = await budget.ReserveAsync(new ReserveRequest("m", 0.50m, 100));
        var b = await budget.ReserveAsync(new ReserveRequest("m", 0.30m, 100));
        Assert.Equal(0.80m, (await budget.GetStatusAsync()).Reserved);
        Assert.Equal(BudgetLimitCodes.Daily, (await budget.ReserveAsync(new ReserveRequest("m", 0.25m, 1))).RefusedBy);

        var charged = await budget.SettleAsync(new SettleRequest(a.ReservationId, 0.20m, 40, "cancelled")); // used less
        var capped = await budget.SettleAsync(new SettleRequest(b.ReservationId, 0.80m, 400, "ok")); // used more than it held

        Assert.Equal(0.20m, charged!.Cost);
        Assert.Equal(0.30m, capped!.Cost);
        var status = await budget.GetStatusAsync();
        Assert.Equal((0.50m, 0m), (status.SpentToday, status.Reserved));
        Assert.True((await budget.ReserveAsync(new ReserveRequest("m", 0.50m, 1))).Granted); // the released 0.30 is usable again
        Assert.Null(await budget.SettleAsync(new SettleRequest(a.ReservationId, 0.20m, 40, "ok"))); // settled once only
    }

    [Fact]
    public async Task Reservation_NeverSettled_ExpiresAndStopsHoldingBudget_ButCanStillBeChargedLate()
    {
        var budget = NewUser(out _);
        await budget.SetLimitsAsync(new BudgetLimits(Daily: 1.00m));
        var crashed = await budget.ReserveAsync(new ReserveRequest("m", 1.00m, 1, Ttl: TimeSpan.FromSeconds(30)));
        Assert.Equal(BudgetLimitCodes.Daily, (await budget.ReserveAsync(new ReserveRequest("m", 0.10m, 1))).RefusedBy);

        fixture.Time.Advance(TimeSpan.FromSeconds(31));

        var status = await budget.GetStatusAsync();
        Assert.Equal((0m, 0), (status.Reserved, status.OpenReservations));
        var next = await budget.ReserveAsync(new ReserveRequest("m", 0.10m, 1));
        Assert.True(next.Granted);
        var late = await budget.SettleAsync(new SettleRequest(crashed.ReservationId, 0.40m, 1, "ok"));
        Assert.Equal(0.40m, late!.Cost);
        Assert.Contains("expired", late.Outcome);
    }

    [Fact]
    public async Task Renew_KeepsAHoldOpenPastItsTtl_WhileItsWorkRuns()
    {
        var budget = NewUser(out _);
        await budget.SetLimitsAsync(new BudgetLimits(Daily: 1.00m));
        var hold = await budget.ReserveAsync(new ReserveRequest("m", 0.80m, 1, Ttl: TimeSpan.FromSeconds(30)));

        for (var i = 0; i < 4; i++)
        {
            fixture.Time.Advance(TimeSpan.FromSeconds(20));
            Assert.NotNull(await budget.RenewAsync(hold.ReservationId, TimeSpan.FromSeconds(30)));
        }

        Assert.Equal((0.80m, 1), ((await budget.GetStatusAsync()).Reserved, (await budget.GetStatusAsync()).OpenReservations));
        Assert.Equal(BudgetLimitCodes.Daily, (await budget.ReserveAsync(new ReserveRequest("m", 0.30m, 1))).RefusedBy);
        Assert.Equal(0.80m, (await budget.SettleAsync(new SettleRequest(hold.ReservationId, 0.80m, 1, "ok")))!.Cost);
        Assert.Null(await budget.RenewAsync(hold.ReservationId)); // settled: nothing to renew
    }

    [Fact]
    public async Task BudgetHold_KeptOpen_StaysOpenForAsLongAsItsHolderRuns_ThenLetsItGo()
    {
        var budget = NewUser(out var user);
        var hold = await BudgetHold.ReserveAsync(fixture.Client, user, new ReserveRequest("m", 0.50m, 1, Ttl: TimeSpan.FromSeconds(30)));

        await using (var renewal = hold.KeepOpen(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), fixture.Time))
        {
            for (var i = 1; i <= 6; i++)
            {
                fixture.Time.Advance(TimeSpan.FromSeconds(10));
                for (var giveUp = DateTime.UtcNow.AddSeconds(5); renewal.Renewals < i; await Task.Delay(10))
                {
                    Assert.True(DateTime.UtcNow < giveUp, $"renewal {i} did not happen within 5 s");
                }
            }

            Assert.Equal(1, (await budget.GetStatusAsync()).OpenReservations); // 60 s in, past its 30 s TTL
        }

        fixture.Time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(0, (await budget.GetStatusAsync()).OpenReservations); // no holder: it expires as any hold does
        Assert.False(await budget.IsOpenAsync(hold.Id));
    }

    [Fact]
    public async Task BudgetHold_ARefusal_IsThe429NamingTheLevelAndLimit()
    {
        NewUser(out var user);
        await fixture.Client.GetGrain<IUserBudgetGrain>(user).SetLimitsAsync(new BudgetLimits(Daily: 0m));

        var refused = await Assert.ThrowsAsync<AiFleetException>(() => BudgetHold.ReserveAsync(fixture.Client, user, new ReserveRequest("m", 0.01m, 1)));

        Assert.Equal((FailureKind.RateLimited, BudgetLimitCodes.Daily), (refused.Kind, refused.Limit));
        Assert.StartsWith($"user '{user}': the daily cap", refused.Message);
    }

    [Fact]
    public async Task LateSettle_OfAnExpiredHold_NeverPushesSpendPastTheCap()
    {
        var budget = NewUser(out _);
        await budget.SetLimitsAsync(new BudgetLimits(Daily: 1.00m));
        var slow = await budget.ReserveAsync(new ReserveRequest("m", 0.60m, 1, Ttl: TimeSpan.FromSeconds(30)));
        fixture.Time.Advance(TimeSpan.FromSeconds(31)); // expired: its 0.60 is free for others
        var other = await budget.ReserveAsync(new ReserveRequest("m", 0.90m, 1));
        Assert.True(other.Granted);
        await budget.SettleAsync(new SettleRequest(other.ReservationId, 0.90m, 1, "ok"));

        var late = await budget.SettleAsync(new SettleRequest(slow.ReservationId, 0.60m, 1, "ok"));

        Assert.Equal(0.10m, late!.Cost);
        Assert.Contains("capped at $0.10", late.Outcome);
        Assert.Equal(1.00m, (await budget.GetStatusAsync()).SpentToday);
    }

    [Fact]
    public async Task Refusals_NameTheLimitHit()
    {
        var budget = NewUser(out _);
        await budget.SetLimitsAsync(new BudgetLimits(PerRequest: 0.05m, MaxParallel: 2, RequestsPerMinute: 3, TokensPerMinute: 1000));

        var tooDear = await budget.ReserveAsync(new ReserveRequest("m", 0.06m, 1));
        Assert.Equal(BudgetLimitCodes.PerRequest, tooDear.RefusedBy);
        Assert.Contains("per-request cap of $0.05", tooDear.Message);
        Assert.Equal(BudgetLimitCodes.TokensPerMinute, (await budget.ReserveAsync(new ReserveRequest("m", 0.01m, 1001))).RefusedBy);

        var first = await budget.ReserveAsync(new ReserveRequest("m", 0.01m, 600));
        var second = await budget.ReserveAsync(new ReserveRequest("m", 0.01m, 100));
        Assert.True(first.Granted && second.Granted);
        var parallel = await budget.ReserveAsync(new ReserveRequest("m", 0.01m, 1));
        Assert.Equal(BudgetLimitCodes.MaxParallel, parallel.RefusedBy);
        Assert.NotNull(parallel.RetryAfter);

        await budget.SettleAsync(new SettleRequest(first.ReservationId, 0.01m, 600, "ok"));
        var tokens = await budget.ReserveAsync(new ReserveRequest("m", 0.01m, 400)); // 700 of 1000 used this minute
        Assert.Equal(BudgetLimitCodes.TokensPerMinute, tokens.RefusedBy);
        Assert.True(tokens.RetryAfter > TimeSpan.Zero);
        Assert.True((await budget.ReserveAsync(new ReserveRequest("m", 0.01m, 100))).Granted); // the third request this minute
        await budget.SettleAsync(new SettleRequest(second.ReservationId, 0.01m, 100, "ok"));
        Assert.Equal(BudgetLimitCodes.RequestsPerMinute, (await budget.ReserveAsync(new ReserveRequest("m", 0.01m, 1))).RefusedBy);
    }

    [Fact]
    public async Task DailyCap_ResetsAtUtcMidnight_MonthlyCapSpansTheMonth()
    {
        var budget = NewUser(out _);
        await budget.SetLimitsAsync(new BudgetLimits(Daily: 0.10m, Monthly: 0.15m));
        var r = await budget.ReserveAsync(new ReserveRequest("m", 0.10m, 1));
        await budget.SettleAsync(new SettleRequest(r.ReservationId, 0.10m, 1, "ok"));
        var refused = await budget.ReserveAsync(new ReserveRequest("m", 0.01m, 1));
        Assert.Equal(BudgetLimitCodes.Daily, refused.RefusedBy);
        var now = fixture.Time.GetUtcNow();
        Assert.Equal(now.UtcDateTime.Date.AddDays(1) - now.UtcDateTime, refused.RetryAfter); // until midnight UTC

        fixture.Time.Advance(refused.RetryAfter!.Value);

        Assert.Equal(0m, (await budget.GetStatusAsync()).SpentToday);
        var sameMonth = fixture.Time.GetUtcNow().Month == now.Month;
        var next = await budget.ReserveAsync(new ReserveRequest("m", 0.06m, 1));
        if (sameMonth)
        {
            Assert.Equal(BudgetLimitCodes.Monthly, next.RefusedBy); // 0.10 this month + 0.06 > 0.15
            Assert.True((await budget.ReserveAsync(new ReserveRequest("m", 0.05m, 1))).Granted);
        }
        else
        {
            Assert.True(next.Granted);
        }
    }

    [Fact]
    public async Task Usage_ByDayAndModel_EqualsTheLedgerToTheCent()
    {
        var budget = NewUser(out _);
        var random = new Random(42);
        var start = DateOnly.FromDateTime(fixture.Time.GetUtcNow().UtcDateTime);
        for (var i = 0; i < 300; i++)
        {
            if (i % 100 == 99)
            {
                fixture.Time.Advance(TimeSpan.FromHours(9));
            }

            var model = random.Next(3) switch { 0 => "premium", 1 => "standard", _ => "self-hosted" };
            var cost = Math.Round((decimal)random.NextDouble() * 0.05m, 6);
            var r = await budget.ReserveAsync(new ReserveRequest(model, 0.05m, 500));
            await budget.SettleAsync(new SettleRequest(r.ReservationId, cost, random.Next(1, 500), "ok"));
        }

        var end = DateOnly.FromDateTime(fixture.Time.GetUtcNow().UtcDateTime);
        var usage = await budget.GetUsageAsync(start, end);
        var ledger = await budget.GetLedgerAsync(start, end);

        Assert.Equal(300, ledger.Count);
        var fromLedger = ledger
            .GroupBy(e => (Day: DateOnly.FromDateTime(e.At.UtcDateTime), e.Model))
            .Select(g => new UsageRow(g.Key.Day, g.Key.Model, g.Sum(e => e.Cost), g.Sum(e => (long)e.Tokens), g.LongCount()))
            .OrderBy(r => r.Day).ThenBy(r => r.Model, StringComparer.Ordinal);
        Assert.Equal(fromLedger, usage);
        Assert.True(usage.Select(u => u.Day).Distinct().Count() > 1, "the run should span more than one day");
    }

    [Fact]
    public async Task BadAmounts_AreRejectedAsInvalid()
    {
        var budget = NewUser(out _);

        await FailureAssert.ThrowsAsync(FailureKind.InvalidArgument, () => budget.ReserveAsync(new ReserveRequest("m", -1m, 1)));
        await FailureAssert.ThrowsAsync(FailureKind.InvalidArgument, () => budget.SetLimitsAsync(new BudgetLimits(Daily: -5m)));
        Assert.Equal(0, (await budget.GetStatusAsync()).OpenReservations);
    }
}
