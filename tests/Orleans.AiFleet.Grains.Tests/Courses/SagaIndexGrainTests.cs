using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.Grains.Courses;

namespace Orleans.AiFleet.Grains.Tests.Courses;

/// <summary>The index of recent sagas gives each user a share: one user's flood evicts their own oldest, never another's.</summary>
public sealed class SagaIndexGrainTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task RecordAsync_OneUsersFlood_EvictsOnlyThatUsersOldest()
    {
        var index = fixture.Client.GetGrain<ISagaIndexGrain>(0);
        var (quiet, flooder) = ($"quiet-{Guid.NewGuid():N}", $"flood-{Guid.NewGuid():N}");
        var start = DateTimeOffset.UtcNow;
        for (var i = 0; i < 3; i++)
        {
            await index.RecordAsync(Status($"saga_q{i}", quiet, start.AddSeconds(i)));
        }

        for (var i = 0; i < SagaIndexGrain.PerUser + 50; i++)
        {
            await index.RecordAsync(Status($"saga_f{i}", flooder, start.AddSeconds(10 + i)));
        }

        // Records are one-way: wait until the last one landed.
        await Eventually.TrueAsync(async () => (await index.ListAsync(flooder, 1)).FirstOrDefault()?.Id == $"saga_f{SagaIndexGrain.PerUser + 49}", "the flood recorded");
        Assert.Equal(3, (await index.ListAsync(quiet, SagaIndexGrain.Capacity)).Count);
        var kept = await index.ListAsync(flooder, SagaIndexGrain.Capacity);
        Assert.Equal(SagaIndexGrain.PerUser, kept.Count);
        Assert.Equal("saga_f50", kept.MinBy(s => s.UpdatedAt)!.Id); // the flooder's 50 oldest went
    }

    private static SagaStatus Status(string id, string user, DateTimeOffset at) =>
        new(id, user, SagaStates.Failed, SagaSteps.Done, 0, 1, 0m, 0m, "refused", null, at, at, new CourseRequest("Stars", "beginner", 1, "English"), 0, "silo");
}
