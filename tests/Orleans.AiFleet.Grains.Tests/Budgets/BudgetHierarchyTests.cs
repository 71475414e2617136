using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Tenancy;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Tests.Budgets;

/// <summary>
/// Budgets at three levels (organization, team, user) on the real runtime, on a manual clock: every request is held
/// at every level through slices of the parents, so no level's caps can be passed under concurrency, and the
/// parents' ledgers sum their children's once the slices are returned.
/// </summary>
public sealed class BudgetHierarchyTests(ManualClockClusterFixture fixture) : IClassFixture<ManualClockClusterFixture>
{
    private const decimal Cost = 0.000001234m; // not a round number: sums must be exact to the nano-dollar

    private DateOnly Today => DateOnly.FromDateTime(fixture.Time.GetUtcNow().UtcDateTime);

    /// <summary>A fresh organization with one team and <paramref name="students"/> users in it (budgets told their parents, as tenancy does).</summary>
    private async Task<(string Org, string Team, string[] Students)> ClassAsync(int students)
    {
        var org = $"org-{Guid.NewGuid():N}"[..20];
        var students_ = Enumerable.Range(0, students).Select(i => $"{org}-s{i}").ToArray();
        await Task.WhenAll(students_.Select(s => Budget(s).SetParentsAsync(org, ["10-b"])));
        return (org, "10-b", students_);
    }

    private IUserBudgetGrain Budget(string key) => fixture.Client.GetGrain<IUserBudgetGrain>(key);

    private async Task<decimal> LedgerSumAsync(string key) => (await Budget(key).GetLedgerAsync(Today, Today)).Sum(e => e.Cost);

    /// <summary>Lets the slices go idle and waits until every one has been returned to its parent.</summary>
    private async Task ReturnSlicesAsync(string org, string team)
    {
        fixture.Time.Advance(ParentSlices.IdleReturn + TimeSpan.FromSeconds(1));
        await Eventually.TrueAsync(async () => (await Budget(BudgetKeys.Team(org, team)).GetStatusAsync()).OpenReservations == 0, "the students' slices returned to the class");
        fixture.Time.Advance(ParentSlices.IdleReturn + TimeSpan.FromSeconds(1));
        await Eventually.TrueAsync(async () => (await Budget(BudgetKeys.Org(org)).GetStatusAsync()).OpenReservations == 0, "the class's slices returned to the organization");
    }

    private async Task RaceAsync(string org, string team, string[] students, string refusingLevel)
    {
        var results = await Task.WhenAll(students.Select(s => Budget(s).ReserveAsync(new ReserveRequest("m", Cost, 10))));

        var granted = students.Zip(results).Where(p => p.Second.Granted).ToArray();
        Assert.Equal(100, granted.Length);
        Assert.All(results.Where(r => !r.Granted), r =>
        {
            Assert.Equal(BudgetLimitCodes.Daily, r.RefusedBy);
            Assert.Equal(refusingLevel, BudgetKeys.Level(r.Budget!));
            Assert.StartsWith(refusingLevel == BudgetKeys.TeamLevel ? $"team '{org}/{team}'" : $"organization '{org}'", r.Message);
        });

        // Each settles a little less than it held; what is left goes back up.
        await Task.WhenAll(granted.Select((p, i) => Budget(p.First).SettleAsync(new SettleRequest(p.Second.ReservationId, Cost - (i % 3 * Money.Nano), 10, "ok"))));
        await ReturnSlicesAsync(org, team);

        var students_ = await Task.WhenAll(students.Select(LedgerSumAsync));
        var spent = students_.Sum();
        Assert.Equal((100 * Cost) - (Enumerable.Range(0, 100).Sum(i => i % 3) * Money.Nano), spent);
        Assert.Equal(spent, await LedgerSumAsync(BudgetKeys.Team(org, team)));
        Assert.Equal(spent, await LedgerSumAsync(BudgetKeys.Org(org)));
        Assert.Equal(spent, (await Budget(BudgetKeys.Org(org)).GetStatusAsync()).SpentToday);
    }

    [Fact]
    public async Task Race_1000StudentsOfAClassCoveringOnly100_Exactly100Granted_AndTheLedgersOfClassAndOrgSumTheStudents()
    {
        var (org, team, students) = await ClassAsync(1000);
        await Budget(BudgetKeys.Team(org, team)).SetLimitsAsync(new BudgetLimits(Daily: 100 * Cost));

        await RaceAsync(org, team, students, BudgetKeys.TeamLevel);
    }

    [Fact]
    public async Task Race_TheClassGenerousAndTheOrgBinding_Exactly100Granted_RefusedByTheOrg()
    {
        var (org, team, students) = await ClassAsync(1000);
        await Budget(BudgetKeys.Team(org, team)).SetLimitsAsync(new BudgetLimits(Daily: 1000m));
        await Budget(BudgetKeys.Org(org)).SetLimitsAsync(new BudgetLimits(Daily: 100 * Cost));

        await RaceAsync(org, team, students, BudgetKeys.OrgLevel);
    }

    [Fact]
    public async Task ABusyStudent_CallsTheParentsPerSliceNotPerRequest()
    {
        using var calls = new MetricCollector<long>(fixture.SiloMeters, InferenceMetrics.MeterName, "aifleet.budget.parent_calls");
        var (org, team, students) = await ClassAsync(1);
        await Budget(BudgetKeys.Org(org)).SetLimitsAsync(new BudgetLimits(Monthly: 500m));
        var student = Budget(students[0]);

        for (var i = 0; i < 1000; i++)
        {
            var hold = await student.ReserveAsync(new ReserveRequest("m", Cost, 10));
            Assert.True(hold.Granted);
            await student.SettleAsync(new SettleRequest(hold.ReservationId, Cost, 10, "ok"));
        }

        long Calls(string level) => calls.GetMeasurementSnapshot().Where(m => (string?)m.Tags["level"] == level).Sum(m => m.Value);
        Assert.InRange(Calls(BudgetKeys.TeamLevel), 1, 20); // slices double while busy: about log2(1000)
        Assert.InRange(Calls(BudgetKeys.OrgLevel), 1, 20);
        await ReturnSlicesAsync(org, team);
        Assert.Equal(1000 * Cost, await LedgerSumAsync(BudgetKeys.Org(org)));
    }

    [Fact]
    public async Task ParentLimits_PerRequestParallelAndRate_BindEveryStudent_NamingTheLevel()
    {
        var (org, team, students) = await ClassAsync(20);
        await Budget(BudgetKeys.Team(org, team)).SetLimitsAsync(new BudgetLimits(PerRequest: 0.01m, MaxParallel: 3));
        await Budget(BudgetKeys.Org(org)).SetLimitsAsync(new BudgetLimits(RequestsPerMinute: 10));

        var dear = await Budget(students[0]).ReserveAsync(new ReserveRequest("m", 0.02m, 1));
        Assert.Equal((BudgetLimitCodes.PerRequest, BudgetKeys.Team(org, team)), (dear.RefusedBy, dear.Budget));
        Assert.Contains("per-request cap of $0.01", dear.Message);

        var holds = await Task.WhenAll(students.Take(5).Select(s => Budget(s).ReserveAsync(new ReserveRequest("m", Cost, 1))));
        Assert.Equal(3, holds.Count(h => h.Granted));
        Assert.All(holds.Where(h => !h.Granted), h => Assert.Equal((BudgetLimitCodes.MaxParallel, BudgetKeys.Team(org, team)), (h.RefusedBy, h.Budget)));

        // The organization's 10 requests a minute across the class, the 3 running counted: 7 more at most.
        foreach (var (hold, student) in holds.Zip(students).Where(p => p.First.Granted))
        {
            await Budget(student).SettleAsync(new SettleRequest(hold.ReservationId, Cost, 1, "ok"));
        }

        var granted = 0;
        foreach (var student in students.Skip(5))
        {
            var hold = await Budget(student).ReserveAsync(new ReserveRequest("m", Cost, 1));
            if (hold.Granted)
            {
                granted++;
                await Budget(student).SettleAsync(new SettleRequest(hold.ReservationId, Cost, 1, "ok"));
            }
            else
            {
                Assert.Equal((BudgetLimitCodes.RequestsPerMinute, BudgetKeys.Org(org)), (hold.RefusedBy, hold.Budget));
            }
        }

        Assert.InRange(granted, 1, 7);
    }

    [Fact]
    public async Task CachedAnswers_TakeARequestPermitAtEveryLevel()
    {
        var (org, _, students) = await ClassAsync(4);
        await Budget(BudgetKeys.Org(org)).SetLimitsAsync(new BudgetLimits(RequestsPerMinute: 5));

        var admitted = 0;
        for (var i = 0; i < 12; i++)
        {
            var answer = await Budget(students[i % 4]).AdmitFreeAsync();
            admitted += answer.Granted ? 1 : 0;
            if (!answer.Granted)
            {
                Assert.Equal((BudgetLimitCodes.RequestsPerMinute, BudgetKeys.Org(org)), (answer.RefusedBy, answer.Budget));
            }
        }

        Assert.InRange(admitted, 1, 5);
    }

    [Fact]
    public async Task MovingAStudentBetweenClasses_SettlesTheOldClassSlice_AndChargesTheNewClass()
    {
        var (org, team, students) = await ClassAsync(1);
        var student = Budget(students[0]);
        var running = await student.ReserveAsync(new ReserveRequest("m", 3 * Cost, 1));
        var done = await student.ReserveAsync(new ReserveRequest("m", Cost, 1));
        await student.SettleAsync(new SettleRequest(done.ReservationId, Cost, 1, "ok"));

        await student.SetParentsAsync(org, ["11-a"]);

        // The request still running stays held on the old class until it ends; the new class takes the next ones.
        Assert.Equal(1, (await Budget(BudgetKeys.Team(org, team)).GetStatusAsync()).OpenReservations);
        var next = await student.ReserveAsync(new ReserveRequest("m", Cost, 1));
        await student.SettleAsync(new SettleRequest(next.ReservationId, Cost, 1, "ok"));
        await student.SettleAsync(new SettleRequest(running.ReservationId, 2 * Cost, 1, "ok"));
        await Eventually.TrueAsync(async () => (await Budget(BudgetKeys.Team(org, team)).GetStatusAsync()).OpenReservations == 0, "the old class's slice settled");
        Assert.Equal(3 * Cost, await LedgerSumAsync(BudgetKeys.Team(org, team)));

        await ReturnSlicesAsync(org, "11-a");
        Assert.Equal(Cost, await LedgerSumAsync(BudgetKeys.Team(org, "11-a")));
        Assert.Equal(4 * Cost, await LedgerSumAsync(BudgetKeys.Org(org)));
    }

    [Fact]
    public async Task AKeyNarrowedToATeamTheUserLeft_IsRefused_AndAUserOutsideTenancyHasNoParent()
    {
        var (org, _, students) = await ClassAsync(1);
        var error = await Assert.ThrowsAsync<AiFleetException>(() => Budget(students[0]).ReserveAsync(new ReserveRequest("m", Cost, 1, Team: "7-a")));
        Assert.Equal(FailureKind.Forbidden, error.Kind);

        var loner = Budget($"loner-{Guid.NewGuid():N}");
        var hold = await loner.ReserveAsync(new ReserveRequest("m", Cost, 1));
        Assert.True(hold.Granted);
        Assert.Equal(0, (await Budget(BudgetKeys.Org(org)).GetStatusAsync()).OpenReservations);
    }

    [Fact]
    public async Task DeletingATeam_WithHoldsOfAMemberWhoLeftStillOpen_IsAConflict()
    {
        var org = $"del-{Guid.NewGuid():N}"[..16];
        await fixture.Client.GetGrain<IOrgGrain>(org).CreateAsync("School");
        await fixture.Client.GetGrain<ITeamGrain>(TenantNames.TeamKey(org, "9-c")).CreateAsync("9C", null);
        var user = fixture.Client.GetGrain<ITenantUserGrain>($"{org}-pupil");
        await user.SaveAsync(new TenantUserSpec(org, null, TenantRoles.Member, ["9-c"], null));
        var budget = Budget($"{org}-pupil");
        var running = await budget.ReserveAsync(new ReserveRequest("m", Cost, 1));
        await user.RemoveAsync();

        var conflict = await Assert.ThrowsAsync<AiFleetException>(() => fixture.Client.GetGrain<ITeamGrain>(TenantNames.TeamKey(org, "9-c")).DeleteAsync());
        Assert.Equal(FailureKind.Conflict, conflict.Kind);
        Assert.Contains("open holds", conflict.Message);

        await budget.SettleAsync(new SettleRequest(running.ReservationId, Cost, 1, "ok"));
        await Eventually.TrueAsync(async () => (await Budget(BudgetKeys.Team(org, "9-c")).GetStatusAsync()).OpenReservations == 0, "the slice of the member who left settled");
        await fixture.Client.GetGrain<ITeamGrain>(TenantNames.TeamKey(org, "9-c")).DeleteAsync();
        Assert.Equal(Cost, await LedgerSumAsync(BudgetKeys.Team(org, "9-c")));
    }
}
