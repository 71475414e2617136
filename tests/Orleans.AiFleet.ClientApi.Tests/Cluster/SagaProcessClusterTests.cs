using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests.Cluster;

/// <summary>A course saga on the real cluster (scripts/cluster.sh: two silo processes, PostgreSQL, Redis) whose silo gets kill -9.</summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class SagaProcessClusterTests(ProcessClusterFixture cluster) : IClassFixture<ProcessClusterFixture>
{
    [Fact]
    public async Task KillNineOfTheSiloRunningASaga_ItResumesOnTheSurvivor_OneCourse_SpendEqualsTheLedger()
    {
        var created = await cluster.Http.PostAsJsonAsync("/v1/admin/keys", new { user = $"saga-{Guid.NewGuid():N}", role = "user" });
        var key = (await created.Content.ReadFromJsonAsync<JsonObject>())!["key"]!.GetValue<string>();
        using var http = new HttpClient { BaseAddress = cluster.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(30) }.WithKey(key);

        var started = await http.PostAsJsonAsync("/v1/courses", new { subject = "The Kings", lessons = 30, model = "chat-lm", lesson_tokens = 400 });
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        JsonObject status;
        var giveUp = DateTime.UtcNow.AddSeconds(60);
        do
        {
            status = (await http.GetFromJsonAsync<JsonObject>($"/v1/courses/jobs/{id}"))!;
            Assert.True(DateTime.UtcNow < giveUp, "the saga wrote no two lessons within 60 s");
            await Task.Delay(20);
        }
        while (status["lessonsDone"]!.GetValue<int>() < 2);

        // The saga's silo: "S127.0.0.1:<port>:<generation>", port = first silo port + index.
        var silo = status["silo"]!.GetValue<string>();
        var index = int.Parse(silo.TrimStart('S').Split(':')[1], System.Globalization.CultureInfo.InvariantCulture) - cluster.FirstSiloPort;
        await cluster.KillSiloAsync(index);
        var lessonsAtKill = status["lessonsDone"]!.GetValue<int>();

        giveUp = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            using var response = await http.GetAsync($"/v1/courses/jobs/{id}");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                status = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
                if (status["state"]!.GetValue<string>() is "succeeded" or "failed" or "cancelled")
                {
                    break;
                }
            }

            Assert.True(DateTime.UtcNow < giveUp, $"the saga did not finish within 120 s of the kill: {status.ToJsonString()}");
            await Task.Delay(250);
        }

        Console.WriteLine($"saga {id}: killed silo-{index} at {lessonsAtKill} lessons; resumed {status["resumes"]} time(s) on {status["silo"]}; logs {cluster.LogFolder}");
        Assert.Equal("succeeded", status["state"]!.GetValue<string>());
        Assert.True(status["resumes"]!.GetValue<int>() >= 1, "the saga should have been resumed");
        Assert.NotEqual(silo, status["silo"]!.GetValue<string>());
        var course = (await http.GetFromJsonAsync<JsonObject>($"/v1/courses/{status["courseId"]!.GetValue<string>()}"))!;
        Assert.Equal(Enumerable.Range(0, 30), course["lessons"]!.AsArray().Select(l => l!["index"]!.GetValue<int>()));
        Assert.Equal(1, (await http.GetFromJsonAsync<JsonObject>("/v1/courses"))!["total"]!.GetValue<int>());
        var usage = (await http.GetFromJsonAsync<JsonObject>("/v1/usage"))!;
        Assert.Equal(status["spend"]!.GetValue<decimal>(), usage["totalSpend"]!.GetValue<decimal>());
        Assert.Equal(0m, (await http.GetFromJsonAsync<JsonObject>("/v1/budget"))!["reserved"]!.GetValue<decimal>());
    }
}
