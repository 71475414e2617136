using Microsoft.Extensions.DependencyInjection;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.Grains.Models;
using Orleans.TestingHost;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>Three silos on Redis state (what cluster mode persists to), serving the shipped chat-lm; a test kills one.</summary>
public sealed class SagaClusterFixture : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var redis = await ServiceScript.StartAsync("redis");
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddAiFleet().UseAiFleetRedisState(redis);
            // Reminders every 2 s, so a test can see one resume a saga nobody calls.
            silo.Services.Configure<Orleans.Hosting.ReminderOptions>(o => o.MinimumReminderPeriod = TimeSpan.FromSeconds(1));
            silo.Services.Configure<global::Orleans.AiFleet.Grains.Courses.CourseOptions>(o => o.ResumeEvery = TimeSpan.FromSeconds(2));
            silo.Services.Configure<ModelRepositoryOptions>(o => o.Path = TestRepository.Shipped);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        await Cluster.WaitForLivenessToStabilizeAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

/// <summary>A course saga whose silo dies mid-way resumes on another and finishes with one course, once paid.</summary>
public sealed class SagaRecoveryTests(SagaClusterFixture fixture) : IClassFixture<SagaClusterFixture>
{
    /// <summary>Enough lessons that a fast machine cannot finish them between the second lesson and the kill.</summary>
    private const int Lessons = 30;

    [Fact]
    public async Task SiloRunningASaga_Killed_TheSagaResumesElsewhere_OneCourse_NoDuplicateLessons_SpendEqualsLedger()
    {
        var grains = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IGrainFactory>();
        var user = $"saga-user-{Guid.NewGuid():N}";
        var (saga, victim) = await StartThenKillItsSiloAsync(user, "The Exodus");

        // Any call activates the saga on a survivor, which resumes it at its first unfinished step.
        SagaStatus? status = null;
        var giveUp = DateTime.UtcNow.AddSeconds(120);
        while (status is null || !SagaStates.IsTerminal(status.State))
        {
            Assert.True(DateTime.UtcNow < giveUp, $"the saga did not finish within 120 s of the kill: {status}");
            try
            {
                status = await saga.GetStatusAsync();
            }
            catch (Exception e) when (e is OrleansException or TimeoutException)
            {
                // the directory still points at the dead silo for a moment
            }

            await Task.Delay(100);
        }

        Assert.Equal(SagaStates.Succeeded, status.State);
        Assert.True(status.Resumes >= 1, "the saga should have been resumed");
        Assert.NotEqual(victim.SiloAddress.ToString(), status.Silo);
        var course = await grains.GetGrain<ICourseGrain>(status.CourseId!).GetAsync();
        Assert.Equal(Enumerable.Range(0, Lessons), course!.Lessons.Select(l => l.Index)); // each lesson once, in order
        Assert.Equal(1, (await grains.GetGrain<IUserCoursesGrain>(user).ListAsync(0, 10)).Total);

        var budget = grains.GetGrain<IUserBudgetGrain>(user);
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var ledger = await budget.GetLedgerAsync(today.AddDays(-1), today.AddDays(1));
        var charged = Assert.Single(ledger, e => e.Cost > 0);
        Assert.Equal(status.Spend, charged.Cost);
        Assert.Equal(course.Cost, status.Spend);
        Assert.Equal(0m, (await budget.GetStatusAsync()).Reserved);
    }

    [Fact]
    public async Task ASagaNobodyCalls_IsResumedByItsReminder_AfterItsSiloDies()
    {
        var grains = fixture.Cluster.Silos[0].ServiceProvider.GetRequiredService<IGrainFactory>();
        var user = $"saga-reminder-{Guid.NewGuid():N}";
        var (saga, victim) = await StartThenKillItsSiloAsync(user, "The Judges");

        // Only the user's course list is read: the saga itself is not called until its course appears.
        var courses = grains.GetGrain<IUserCoursesGrain>(user);
        var giveUp = DateTime.UtcNow.AddSeconds(90);
        while ((await courses.ListAsync(0, 10)).Total == 0)
        {
            Assert.True(DateTime.UtcNow < giveUp, "no reminder resumed the saga within 90 s of the kill");
            await Task.Delay(250);
        }

        // The course is written before the saga's last step (settling its hold): it may still be running for a moment.
        var status = (await saga.GetStatusAsync())!;
        for (var settle = DateTime.UtcNow.AddSeconds(10); status.State == SagaStates.Running && DateTime.UtcNow < settle; status = (await saga.GetStatusAsync())!)
        {
            await Task.Delay(100);
        }

        Assert.Equal(SagaStates.Succeeded, status.State);
        Assert.True(status.Resumes >= 1);
        Assert.NotEqual(victim.SiloAddress.ToString(), status.Silo);
    }

    /// <summary>
    /// Starts a <see cref="Lessons"/>-lesson saga on a silo other than the entry silo (placement is random, so it starts sagas until one
    /// lands elsewhere, cancelling the others), waits for two lessons, and kills that silo.
    /// </summary>
    private async Task<(ICourseGenerationGrain Saga, InProcessSiloHandle Victim)> StartThenKillItsSiloAsync(string user, string subject)
    {
        var entry = fixture.Cluster.Silos[0]; // never the victim
        var grains = entry.ServiceProvider.GetRequiredService<IGrainFactory>();
        var request = new CourseRequest(subject, "beginner", Lessons, "English", "chat-lm", LessonTokens: 300);
        ICourseGenerationGrain saga;
        SagaStatus started;
        var attempt = 0;
        do
        {
            saga = grains.GetGrain<ICourseGenerationGrain>($"saga_recovery_{Guid.NewGuid():N}");
            started = await saga.StartAsync(user, null, request);
            Assert.True(++attempt < 20, "no saga was placed off the entry silo in 20 tries");
            if (started.Silo == entry.SiloAddress.ToString())
            {
                await saga.CancelAsync();
            }
        }
        while (started.Silo == entry.SiloAddress.ToString());

        var victim = fixture.Cluster.Silos.Single(s => s.SiloAddress.ToString() == started.Silo);
        var giveUp = DateTime.UtcNow.AddSeconds(60);
        while ((await saga.GetStatusAsync())!.LessonsDone < 2)
        {
            Assert.True(DateTime.UtcNow < giveUp, "the saga wrote no two lessons within 60 s");
            await Task.Delay(20);
        }

        await fixture.Cluster.KillSiloAsync(victim);
        return (saga, victim);
    }
}
