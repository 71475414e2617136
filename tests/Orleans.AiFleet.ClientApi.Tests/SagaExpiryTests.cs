using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>The embedded default with failed and cancelled sagas kept for one second only.</summary>
public sealed class ExpiringSagasFixture() : ApiFixtureBase(TestRepository.Shipped)
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("AiFleet:Courses:KeepEndedFor", "00:00:01");
    }
}

/// <summary>
/// Run after the parallel collections: a second embedded host publishes meters of the same names, which would race
/// the metrics assertions of the shared host's tests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ExpiringSagasCollection : ICollectionFixture<ExpiringSagasFixture>
{
    public const string Name = "expiring-sagas";
}

/// <summary>Failed and cancelled course jobs do not pile up: their state is deleted after <c>KeepEndedFor</c>.</summary>
[Collection(ExpiringSagasCollection.Name)]
public sealed class SagaExpiryTests(ExpiringSagasFixture fixture)
{
    [Fact]
    public async Task ACancelledSaga_IsReadableAtFirst_ThenDeleted()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("saga-expiry"));
        // Long enough (20 lessons of 400 tokens) that the cancel lands while it runs; a request that fails its checks
        // is refused at start and never kept at all.
        var started = await http.PostAsJsonAsync("/v1/courses", new { subject = "Stars", lessons = 20, lesson_tokens = 400, model = "chat-lm" });
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync($"/v1/courses/jobs/{id}/cancel", null)).StatusCode);

        JsonObject? status = null;
        var giveUp = DateTime.UtcNow.AddSeconds(60);
        HttpStatusCode code;
        do
        {
            Assert.True(DateTime.UtcNow < giveUp, $"saga {id} was not deleted within 60 s: {status?.ToJsonString()}");
            await Task.Delay(100);
            using var response = await http.GetAsync($"/v1/courses/jobs/{id}");
            code = response.StatusCode;
            if (code == HttpStatusCode.OK)
            {
                status = await response.Content.ReadFromJsonAsync<JsonObject>();
            }
        }
        while (code == HttpStatusCode.OK);

        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal("cancelled", status!["state"]!.GetValue<string>()); // it was seen cancelled before it went
    }
}
