using System.Net;
using System.Net.Http.Json;
using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.Grains.Courses;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// Starting a course is admitted like any request before anything is kept: past the user's requests per minute it is
/// a 429 that leaves no saga, no reminder and no index entry; lookups of made-up ids leave no activations.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class CourseAdmissionTests(ApiFixture fixture)
{
    private static readonly object Course = new { subject = "Stars", lessons = 2, lesson_tokens = 8, model = "chat-lm" };

    [Fact]
    public async Task AFloodOfStarts_PastTheRequestsPerMinute_Is429_AndKeepsNothingOfTheRefused()
    {
        var user = $"course-flood-{Guid.NewGuid():N}";
        using var http = fixture.Client(await fixture.NewUserKeyAsync(user));
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync($"/v1/admin/budgets/{user}", new { requestsPerMinute = 10, maxParallel = 2 })).StatusCode);

        var responses = await Task.WhenAll(Enumerable.Range(0, 60).Select(_ => http.PostAsJsonAsync("/v1/courses", Course)));

        var accepted = responses.Count(r => r.StatusCode == HttpStatusCode.Accepted);
        Assert.InRange(accepted, 1, 10);
        Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.Accepted), r => Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode));
        var indexed = await fixture.Grains.GetGrain<ISagaIndexGrain>(0).ListAsync(user, SagaIndexGrain.Capacity);
        Assert.Equal(accepted, indexed.Count); // only the admitted sagas exist
    }

    [Fact]
    public async Task LookupsOfMadeUpSagaAndCourseIds_Are404_AndLeaveNoActivations()
    {
        var before = await ActivationsAsync();

        for (var i = 0; i < 300; i++)
        {
            Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.GetAsync($"/v1/courses/jobs/saga_{Guid.NewGuid():N}")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.GetAsync($"/v1/courses/course-{Guid.NewGuid():N}")).StatusCode);
        }

        await Eventually.TrueAsync(async () => await ActivationsAsync() <= before + 10, "the 600 empty activations to end");
    }

    /// <summary>Sagas and courses active in the silo now.</summary>
    private async Task<int> ActivationsAsync()
    {
        var stats = await fixture.Grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return stats.Where(s => s.GrainType.Contains("CourseGenerationGrain", StringComparison.Ordinal) || s.GrainType.Contains("CourseGrain", StringComparison.Ordinal))
            .Sum(s => s.ActivationCount);
    }
}
