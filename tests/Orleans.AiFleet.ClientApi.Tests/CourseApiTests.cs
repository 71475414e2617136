using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>
/// Course-generation sagas in the embedded default, over real HTTP: chat-lm writes the outline and lessons.
/// Each test has its own user, so budgets and course lists are its own.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class CourseApiTests(ApiFixture fixture)
{
    private async Task<HttpClient> UserAsync(string user)
    {
        var created = await fixture.Http.PostAsJsonAsync("/v1/admin/keys", new { user, role = "user" });
        var key = (await created.Content.ReadFromJsonAsync<JsonObject>())!["key"]!.GetValue<string>();
        return fixture.Client(key);
    }

    private static async Task<HttpResponseMessage> StartAsync(HttpClient http, object body, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/courses") { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return await http.SendAsync(request);
    }

    private static async Task<JsonObject> UntilDoneAsync(HttpClient http, string id)
    {
        var giveUp = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            var status = (await http.GetFromJsonAsync<JsonObject>($"/v1/courses/jobs/{id}"))!;
            if (status["state"]!.GetValue<string>() is "succeeded" or "failed" or "cancelled")
            {
                return status;
            }

            Assert.True(DateTime.UtcNow < giveUp, $"saga {id} did not finish within 90 s: {status.ToJsonString()}");
            await Task.Delay(100);
        }
    }

    private static async Task<JsonObject> BudgetAsync(HttpClient http) => (await http.GetFromJsonAsync<JsonObject>("/v1/budget"))!;

    [Fact]
    public async Task ACourse_IsGeneratedEndToEnd_ChargedOnce_AndTheSameKeyReturnsTheSameSaga()
    {
        var http = await UserAsync("course-e2e");
        var body = new { subject = "The Creation", level = "beginner", lessons = 4, language = "English", lesson_tokens = 60 };

        var started = await StartAsync(http, body, "course-e2e-1");
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        var job = (await started.Content.ReadFromJsonAsync<JsonObject>())!;
        var id = job["id"]!.GetValue<string>();
        Assert.Equal($"/v1/courses/jobs/{id}", started.Headers.Location!.OriginalString);
        var done = await UntilDoneAsync(http, id);

        Assert.Equal(("succeeded", 4, 4), (done["state"]!.GetValue<string>(), done["lessonsDone"]!.GetValue<int>(), done["lessonsTotal"]!.GetValue<int>()));
        await Eventually.TrueAsync(async () =>
        {
            var scrape = await fixture.Http.GetStringAsync("/metrics");
            return Scrape.Has(scrape, "aifleet_sagas_ended_total", "state=\"succeeded\"")
                && Scrape.Has(scrape, "aifleet_sagas_step_duration_seconds_count", "step=\"lessons\"", "outcome=\"ok\"")
                && Scrape.Has(scrape, "aifleet_sagas", "state=\"succeeded\"");
        }, "the ended saga, its lessons step's duration and the sagas by state in /metrics");
        var courseId = done["courseId"]!.GetValue<string>();
        var course = (await http.GetFromJsonAsync<JsonObject>($"/v1/courses/{courseId}"))!;
        var lessons = course["lessons"]!.AsArray();
        Assert.Equal([0, 1, 2, 3], lessons.Select(l => l!["index"]!.GetValue<int>()));
        Assert.All(lessons, l => Assert.False(string.IsNullOrEmpty(l!["text"]!.GetValue<string>())));
        Assert.All(lessons, l => Assert.Equal("chat-lm", l!["model"]!.GetValue<string>()));
        Assert.False(string.IsNullOrEmpty(course["outline"]!.GetValue<string>()));

        // Charged once, at what the steps cost; nothing left held; the ledger agrees.
        var spend = done["spend"]!.GetValue<decimal>();
        Assert.True(spend > 0);
        Assert.True(spend > lessons.Sum(l => l!["cost"]!.GetValue<decimal>()), "the spend is the lessons' cost and the outline's");
        var budget = await BudgetAsync(http);
        Assert.Equal((spend, 0m), (budget["spentToday"]!.GetValue<decimal>(), budget["reserved"]!.GetValue<decimal>()));
        var usage = (await http.GetFromJsonAsync<JsonObject>("/v1/usage"))!;
        Assert.Equal(spend, usage["totalSpend"]!.GetValue<decimal>());

        // The same key: the same saga, no second course, no second charge.
        var again = await StartAsync(http, body, "course-e2e-1");
        Assert.Equal(id, (await again.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>());
        var list = (await http.GetFromJsonAsync<JsonObject>("/v1/courses"))!;
        Assert.Equal(1, list["total"]!.GetValue<int>());
        Assert.Equal(courseId, list["items"]![0]!["id"]!.GetValue<string>());
        Assert.Equal(spend, (await BudgetAsync(http))["spentToday"]!.GetValue<decimal>());

        // Another user sees neither the job nor the course.
        var other = await UserAsync("course-e2e-other");
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/v1/courses/jobs/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/v1/courses/{courseId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.GetAsync($"/v1/courses/{courseId}")).StatusCode); // admin
    }

    [Fact]
    public async Task Progress_StreamsEveryStepAsServerSentEvents()
    {
        var http = await UserAsync("course-events");
        var started = await StartAsync(http, new { subject = "Rivers", lessons = 3, lesson_tokens = 40 }, "course-events-1");
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();

        var stream = await http.GetStringAsync($"/v1/courses/jobs/{id}/events");

        var kinds = stream.Split('\n').Where(l => l.StartsWith("event: ", StringComparison.Ordinal)).Select(l => l[7..]).ToList();
        Assert.Equal(["started", "reserved", "outline", "lesson", "lesson", "lesson", "lessons", "course_created", "succeeded", "end"], kinds);
        Assert.Contains("\"state\":\"succeeded\"", stream.Split("event: end")[1]);
        Assert.Contains("id: 9\n", stream); // each event carries its number, for a client that reconnects

        // A client that reconnects after event 7 gets the rest and the end.
        using var again = new HttpRequestMessage(HttpMethod.Get, $"/v1/courses/jobs/{id}/events") { Headers = { { "Last-Event-ID", "7" } } };
        var rest = await (await http.SendAsync(again)).Content.ReadAsStringAsync();
        Assert.Equal(["course_created", "succeeded", "end"], rest.Split('\n').Where(l => l.StartsWith("event: ", StringComparison.Ordinal)).Select(l => l[7..]));
    }

    [Fact]
    public async Task Cancel_MidWay_CompensatesLeavingNoCourse_AndChargesOnlyTheFinishedCalls()
    {
        var http = await UserAsync("course-cancel");
        var before = await BudgetAsync(http);
        var started = await StartAsync(http, new { subject = "The Flood", lessons = 50, lesson_tokens = 400 }, "course-cancel-1");
        var id = (await started.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        var giveUp = DateTime.UtcNow.AddSeconds(30);
        while ((await http.GetFromJsonAsync<JsonObject>($"/v1/courses/jobs/{id}"))!["lessonsDone"]!.GetValue<int>() < 1)
        {
            Assert.True(DateTime.UtcNow < giveUp, "no lesson was written within 30 s");
            await Task.Delay(50);
        }

        var cancel = await http.PostAsync($"/v1/courses/jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var done = await UntilDoneAsync(http, id);

        Assert.Equal("cancelled", done["state"]!.GetValue<string>());
        // How far it got depends on the machine's speed (chat-lm may write every lesson before the cancel lands); what
        // is asserted is the compensation and what it charged.
        Assert.Null(done["courseId"]);
        Assert.Equal(0, (await http.GetFromJsonAsync<JsonObject>("/v1/courses"))!["total"]!.GetValue<int>());
        // Work that was done is charged; only the unspent part of the hold is released, and the job says so.
        var charged = done["charged"]!.GetValue<decimal>();
        Assert.True(charged > 0m, "the outline and the finished lessons cost something");
        Assert.Equal(done["spend"]!.GetValue<decimal>(), charged);
        var after = await BudgetAsync(http);
        Assert.Equal((before["spentToday"]!.GetValue<decimal>() + charged, 0m), (after["spentToday"]!.GetValue<decimal>(), after["reserved"]!.GetValue<decimal>()));
        Assert.Contains("model calls that finished", await http.GetStringAsync($"/v1/courses/jobs/{id}/events"));
    }

    [Fact]
    public async Task AnUnpayableOrUnknownCourse_IsRefusedAtStart_NamingWhy_AndNothingIsKept()
    {
        var http = await UserAsync("course-fail");

        using var tooDear = await StartAsync(http, new { subject = "Stars", lessons = 10, lesson_tokens = 300, budget_ceiling = 0.000001 });
        using var unknown = await StartAsync(http, new { subject = "Stars", lessons = 2, model = "no-such-model" });

        Assert.Equal(HttpStatusCode.BadRequest, tooDear.StatusCode);
        Assert.Contains("budget ceiling", await tooDear.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("no-such-model", await unknown.Content.ReadAsStringAsync());
        var budget = await BudgetAsync(http);
        Assert.Equal((0m, 0m), (budget["spentToday"]!.GetValue<decimal>(), budget["reserved"]!.GetValue<decimal>()));
        Assert.Empty(await fixture.Grains.GetGrain<GrainInterfaces.Courses.ISagaIndexGrain>(0).ListAsync("course-fail", 100));
    }

    [Theory]
    [InlineData("""{"subject": "", "lessons": 3}""", "subject")]
    [InlineData("""{"subject": "x", "lessons": 0}""", "lessons")]
    [InlineData("""{"subject": "x", "lessons": 3, "min_quality": 2}""", "min_quality")]
    [InlineData("""{"subject": "x", "lessons": "many"}""", "lessons")]
    public async Task BadRequests_Are400sNamingTheField(string body, string field)
    {
        var response = await fixture.Http.PostAsync("/v1/courses", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(field, await response.Content.ReadAsStringAsync());
    }
}
