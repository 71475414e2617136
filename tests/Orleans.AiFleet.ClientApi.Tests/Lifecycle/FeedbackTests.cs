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
