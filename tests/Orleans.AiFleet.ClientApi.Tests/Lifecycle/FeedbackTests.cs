using System.Net;
using System.Net.Http.Json;
using static Orleans.AiFleet.ClientApi.Tests.Lifecycle.TrafficPolicyTests;

namespace Orleans.AiFleet.ClientApi.Tests.Lifecycle;

/// <summary>
/// Every answer carries a request id; feedback on it with the true label counts once, for the version that answered,
/// only from the key's own user, and gives that version's accuracy with its confidence interval.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class FeedbackTests(LifecycleFixture fixture)
{
    [Fact]
    public async Task Feedback_JudgesTheAnswer_OnceForTheVersionThatGaveIt_AndOnlyFromItsUser()
    {
        using var user = fixture.Client(await fixture.NewUserKeyAsync("feedback-user"));
        using var other = fixture.Client(await fixture.NewUserKeyAsync("feedback-other"));
        var before = Version(await ReportAsync(fixture.Http, "feedback"), "2");
        var judged = before.ValueKind == System.Text.Json.JsonValueKind.Object ? (int)before.GetProperty("labelled").GetInt64() : 0;
        var right = judged == 0 ? 0 : (int)Math.Round(before.GetProperty("accuracy").GetDouble() * judged);
        for (var i = 0; i < 8; i++)
        {
            using var answer = await user.PostJsonAsync("/v2/models/feedback/versions/2/infer", KServe.DigitsBody(i));
            var id = answer.Headers.GetValues("x-aifleet-request-id").Single();
            Assert.Equal(HttpStatusCode.NotFound, (await other.PostAsJsonAsync("/v1/feedback", new { model = "feedback", id, label = Samples.Label(i) })).StatusCode);

            using var feedback = await user.PostAsJsonAsync("/v1/feedback", new { model = "feedback", id, label = Samples.Label(i) });
            Assert.Equal(HttpStatusCode.OK, feedback.StatusCode);
            var result = await feedback.JsonAsync();
            Assert.Equal("2", result.GetProperty("version").GetString());
            judged++;
            right += result.GetProperty("correct").GetInt32();

            using var again = await user.PostAsJsonAsync("/v1/feedback", new { model = "feedback", id, label = Samples.Label(i) });
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode); // counted once
        }

        var version = Version(await ReportAsync(fixture.Http, "feedback"), "2");
        Assert.Equal(judged, version.GetProperty("labelled").GetInt64());
        Assert.Equal(Math.Round((double)right / judged, 4), version.GetProperty("accuracy").GetDouble());
        Assert.True(version.GetProperty("accuracyLow").GetDouble() <= version.GetProperty("accuracy").GetDouble());
        Assert.True(version.GetProperty("accuracyHigh").GetDouble() >= version.GetProperty("accuracy").GetDouble());
    }

    [Fact]
    public async Task Feedback_OneUsersLabelsPastTheCap_AreNotCountedInTheExperiment_AndEachArmReportsItsLabellers()
    {
        // minLabels 50 at the default share of 10 %: a user's labels count for at most 5 in an arm.
        using var start = await fixture.Http.PostAsJsonAsync("/v1/admin/experiments",
            new { model = "fair-cap", kind = "ab", candidate = "2", baseline = "1", steps = new[] { 50.0 }, minLabels = 50 });
        Assert.Equal(HttpStatusCode.Created, start.StatusCode);
        var id = (await start.JsonAsync()).GetProperty("id").GetString()!;
        var byUser = new List<(string Version, List<System.Text.Json.JsonElement> Results)>();
        for (var u = 0; u < 5; u++)
        {
            using var user = fixture.Client(await fixture.NewUserKeyAsync($"capped-{u}"));
            var results = new List<System.Text.Json.JsonElement>();
            // Four users label 8 answers one by one; the fifth, one answer of 8 rows.
            foreach (var (first, rows) in u < 4 ? Enumerable.Range(0, 8).Select(i => (i, 1)) : [(0, 8)])
            {
                using var answer = await user.PostJsonAsync("/v2/models/fair-cap/infer", KServe.DigitsBody(first, rows));
                var labels = Enumerable.Range(first, rows).Select(Samples.Label).ToArray();
                using var feedback = await user.PostAsJsonAsync("/v1/feedback",
                    new { model = "fair-cap", id = answer.Headers.GetValues("x-aifleet-request-id").Single(), labels });
                Assert.Equal(HttpStatusCode.OK, feedback.StatusCode);
                results.Add(await feedback.JsonAsync());
            }

            byUser.Add((results[0].GetProperty("version").GetString()!, results)); // a user stays in one arm
        }

        var arms = (await fixture.Http.GetFromJsonAsync<System.Text.Json.JsonElement>($"/v1/experiments/{id}")).GetProperty("arms").EnumerateArray()
            .ToDictionary(a => a.GetProperty("version").GetString()!);
        foreach (var (version, arm) in arms)
        {
            var users = byUser.Count(b => b.Version == version);
            Assert.Equal(5 * users, arm.GetProperty("labelled").GetInt64());
            Assert.Equal(users, arm.GetProperty("labellers").GetInt32());
            Assert.Equal(3 * users, arm.GetProperty("labelsOverCap").GetInt64());
        }

        foreach (var (_, results) in byUser)
        {
            Assert.Equal(5, results.Sum(r => r.GetProperty("countedInExperiment").GetInt32()));
            Assert.All(results, r => Assert.Equal(id, r.GetProperty("experiment").GetString()));
            Assert.Equal("user-cap", results[^1].GetProperty("notCountedBecause").GetString());
        }

        using var rollback = await fixture.Http.PostAsync($"/v1/admin/experiments/{id}/rollback", null); // the console's test expects none running
        Assert.Equal(HttpStatusCode.OK, rollback.StatusCode);
    }

    [Fact]
    public async Task FeedbackWithTheWrongNumberOfRows_IsRefused_AndCanBeSentAgainRight()
    {
        using var answer = await fixture.Http.PostJsonAsync("/v2/models/feedback/infer", KServe.DigitsBody(0, rows: 3));
        var id = answer.Headers.GetValues("x-aifleet-request-id").Single();

        using var wrong = await fixture.Http.PostAsJsonAsync("/v1/feedback", new { model = "feedback", id, labels = new[] { 1 } });
        Assert.Equal(HttpStatusCode.BadRequest, wrong.StatusCode);
        Assert.Equal("labels", (await wrong.JsonAsync()).GetProperty("field").GetString());

        using var right = await fixture.Http.PostAsJsonAsync("/v1/feedback", new { model = "feedback", id, labels = new[] { Samples.Label(0), Samples.Label(1), Samples.Label(2) } });
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Equal(3, (await right.JsonAsync()).GetProperty("rows").GetInt32());
    }

    [Theory]
    [InlineData("""{"model": "feedback", "id": "x"}""", "label")]
    [InlineData("""{"model": "feedback", "id": "x", "label": 1, "score": 0.5}""", "label")]
    [InlineData("""{"model": "feedback", "label": 1}""", "id")]
    [InlineData("""{"id": "x", "label": 1}""", "model")]
    [InlineData("""{"model": "feedback", "id": "x", "label": "three"}""", "label")]
    [InlineData("""{"model": "feedback", "id": "never-answered", "label": 1}""", "id")]
    public async Task BadFeedback_IsA4xxNamingTheField(string body, string field)
    {
        using var response = await fixture.Http.PostAsync("/v1/feedback", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{response.StatusCode}");
        Assert.Equal(field, (await response.JsonAsync()).GetProperty("field").GetString());
    }
}
