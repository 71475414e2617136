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

/// <summary>Failed and cancelled course jobs do not pile up: their state is deleted after <c>KeepEndedFor</c>.</summary>
public sealed class SagaExpiryTests(ExpiringSagasFixture fixture) : IClassFixture<ExpiringSagasFixture>
{
    [Fact]
    public async Task AFailedSaga_IsReadableAtFirst_ThenDeleted()
    {
        using var http = fixture.Client(await fixture.NewUserKeyAsync("saga-expiry"));
        var started = await http.PostAsJsonAsync("/v1/courses", new { subject = "Stars", lessons = 2, model = "no-such-model" });
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();

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
        Assert.Equal("failed", status!["state"]!.GetValue<string>()); // it was seen failed before it went
    }
}
