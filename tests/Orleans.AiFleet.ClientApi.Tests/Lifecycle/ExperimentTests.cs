using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Lifecycle;

namespace Orleans.AiFleet.ClientApi.Tests.Lifecycle;

/// <summary>
/// Experiments decide by themselves: a canary of a version that fails or is slow is rolled back, all traffic to the
/// baseline; a healthy one steps up to 100 % and is promoted; an A/B whose candidate is more accurate (by feedback)
/// is promoted; every decision is recorded with its statistics.
/// </summary>
[Collection(LifecycleCollection.Name)]
public sealed class ExperimentTests(LifecycleFixture fixture)
{
    [Fact]
    public async Task ACanaryWithInjectedErrors_IsRolledBack_AllTrafficToTheBaseline()
    {
        await SetFaultsAsync("canary-errors", new { errorRate = 0.2, extraLatencyMs = 0 });

        var (ended, traffic) = await RunUntilEndedAsync("canary-errors",
            new { model = "canary-errors", candidate = "1", baseline = "2", steps = new[] { 10.0, 50, 100 }, minSamples = 100, dwellSeconds = 1 });

        Assert.Equal(ExperimentStates.RolledBack, ended.GetProperty("state").GetString());
        var decision = ended.GetProperty("decisions").EnumerateArray().Last();
        Assert.Equal("rollback", decision.GetProperty("action").GetString());
        Assert.Contains("error rate", decision.GetProperty("reason").GetString());
        Assert.True(decision.GetProperty("statistics").GetProperty("candidateErrors").GetDouble() > 0);
        Assert.True(traffic.Failures < traffic.Total * 0.05, $"{traffic.Failures} of {traffic.Total} requests failed during the canary");
        await AllTrafficToAsync("canary-errors", "2");
    }

    [Fact]
    public async Task ACanaryWithInjectedLatency_IsRolledBack()
    {
        await SetFaultsAsync("canary-latency", new { errorRate = 0.0, extraLatencyMs = 100 });

        var (ended, _) = await RunUntilEndedAsync("canary-latency",
            new { model = "canary-latency", candidate = "1", baseline = "2", steps = new[] { 20.0, 100 }, minSamples = 200, dwellSeconds = 30 });

        Assert.Equal(ExperimentStates.RolledBack, ended.GetProperty("state").GetString());
        Assert.Contains("latency", ended.GetProperty("decisions").EnumerateArray().Last().GetProperty("reason").GetString());
        await AllTrafficToAsync("canary-latency", "2");
    }

    [Fact]
    public async Task AHealthyCanary_StepsUp_AndIsPromoted()
    {
        var (ended, traffic) = await RunUntilEndedAsync("canary-good", new
        {
            model = "canary-good", candidate = "2", baseline = "1", steps = new[] { 20.0, 60, 100 }, minSamples = 50, dwellSeconds = 0.5,
            margin = 0.1, latencyTolerance = 1.0,
        });

        Assert.Equal(ExperimentStates.Promoted, ended.GetProperty("state").GetString());
        Assert.Equal(["start", "step", "promote"], ended.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("action").GetString()));
        Assert.Equal(0, traffic.Failures);
        await AllTrafficToAsync("canary-good", "2");
    }

    [Fact]
    public async Task AnAB_WhoseCandidateIsMoreAccurate_ByFeedback_IsPromoted()
    {
        using var start = await fixture.Http.PostAsJsonAsync("/v1/admin/experiments",
            // v2 is the larger network: on a busy machine its median can be 20 % slower, which is not what this test is about.
            new { model = "ab", kind = "ab", candidate = "2", baseline = "1", steps = new[] { 50.0 }, minLabels = 30, latencyTolerance = 5.0 });
        Assert.Equal(HttpStatusCode.Created, start.StatusCode);
        var id = (await start.JsonAsync()).GetProperty("id").GetString()!;

        var router = fixture.Grains.GetGrain<IInferenceRouterGrain>(0);
        var experiments = fixture.Grains.GetGrain<IModelExperimentsGrain>("ab");
        JsonElement view = default;
        for (var i = 0; i < 3000; i++)
        {
            var user = $"user-{i % 200}";
            var answer = await router.InferAsync(new InferenceRequest("ab", null, [Samples.HeldOutPixels(i)], User: user));
            await experiments.FeedbackAsync(new Feedback(user, answer.RequestId!, [Samples.HeldOutLabel(i)], null));
            if (i % 25 == 0 && (view = await fixture.Http.GetFromJsonAsync<JsonElement>($"/v1/experiments/{id}")).GetProperty("state").GetString() != ExperimentStates.Running)
            {
                break;
            }
        }

        Assert.Equal(ExperimentStates.Promoted, view.GetProperty("state").GetString());
        var better = view.GetProperty("decisions").EnumerateArray().Single(d => d.GetProperty("action").GetString() == "better");
        Assert.True(better.GetProperty("statistics").GetProperty("accuracyBetterPValue").GetDouble() < 0.01);
        var arms = view.GetProperty("arms").EnumerateArray().ToDictionary(a => a.GetProperty("role").GetString()!);
        Assert.True(arms["candidate"].GetProperty("accuracy").GetDouble() > arms["baseline"].GetProperty("accuracy").GetDouble());
        Assert.True(arms["candidate"].GetProperty("accuracyLow").GetDouble() < arms["candidate"].GetProperty("accuracy").GetDouble());
        await AllTrafficToAsync("ab", "2");
    }

    [Fact]
    public async Task AnAB_OneUserPinningBothVersionsWithSelfServingLabels_CountsInNeitherArm_AndDecidesNothing()
    {
        // Issue 22's attack: v1 is the worse network (90 % on held-out digits against 98.7 %). One standard user names
        // each version on 60 requests and calls v1's answers right and v2's wrong: counted, that is 100 % against 0 %
        // over 60 labels an arm, and v1 was promoted for everyone.
        var id = await StartAsync(new { model = "fair-pinned", kind = "ab", candidate = "1", baseline = "2", steps = new[] { 50.0 }, minLabels = 30 });
        var before = Arms(await fixture.Http.GetFromJsonAsync<JsonElement>($"/v1/experiments/{id}"));
        using var user = fixture.Client(await fixture.NewUserKeyAsync("pinning-user"));
        var judged = new List<JsonElement>();
        for (var i = 0; i < 60; i++)
        {
            var sample = i % Samples.DigitCount;
            foreach (var version in new[] { "1", "2" })
            {
                using var answer = await user.PostJsonAsync($"/v2/models/fair-pinned/versions/{version}/infer", KServe.DigitsBody(sample));
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                var label = version == "1" ? Samples.Label(sample) : (Samples.Label(sample) + 1) % 10;
                using var feedback = await user.PostAsJsonAsync("/v1/feedback",
                    new { model = "fair-pinned", id = answer.Headers.GetValues("x-aifleet-request-id").Single(), label });
                Assert.Equal(HttpStatusCode.OK, feedback.StatusCode); // accepted: it judges the version, not the experiment
                judged.Add(await feedback.JsonAsync());
            }
        }

        // Feedback waited for its answer's report, which carried that request's tallies as well: all 120 are in.
        var view = await fixture.Http.GetFromJsonAsync<JsonElement>($"/v1/experiments/{id}");
        Assert.Equal(before, Arms(view));
        Assert.Equal(ExperimentStates.Running, view.GetProperty("state").GetString());
        Assert.Equal(["start"], view.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("action").GetString()));
        Assert.DoesNotContain(view.GetProperty("tests").EnumerateObject(), t => t.Name.StartsWith("accuracy", StringComparison.Ordinal));
        Assert.All(judged, f =>
        {
            Assert.Equal(id, f.GetProperty("experiment").GetString());
            Assert.Equal(0, f.GetProperty("countedInExperiment").GetInt32());
            Assert.Equal("pinned", f.GetProperty("notCountedBecause").GetString());
        });

        // Served and judged all the same: the versions' own figures have every one of them.
        var live = await TrafficPolicyTests.ReportAsync(fixture.Http, "fair-pinned");
        foreach (var version in new[] { "1", "2" })
        {
            Assert.Equal(60, TrafficPolicyTests.Version(live, version).GetProperty("requests").GetInt64());
            Assert.Equal(60, TrafficPolicyTests.Version(live, version).GetProperty("labelled").GetInt64());
        }

        Assert.Equal(ExperimentStates.RolledBack, (await ActAsync(id, "rollback")).GetProperty("state").GetString()); // the console's test expects none running
    }

    [Fact]
    public async Task WhileAnExperimentRuns_TheTrafficIsItsOwn_AndAnOperatorCanPauseAndRollItBack()
    {
        using var start = await fixture.Http.PostAsJsonAsync("/v1/admin/experiments",
            new { model = "split-owned", candidate = "1" });
        Assert.Equal(HttpStatusCode.NotFound, start.StatusCode); // no such model

        var id = await StartAsync(new { model = "feedback", candidate = "1", baseline = "2", steps = new[] { 5.0, 100 }, minSamples = 1_000_000 });

        Assert.Equal(HttpStatusCode.Conflict, (await fixture.Http.PutAsJsonAsync("/v1/admin/models/feedback/traffic", new { defaultVersion = "1" })).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await fixture.Http.PostAsJsonAsync("/v1/admin/experiments", new { model = "feedback", candidate = "1" })).StatusCode);
        Assert.Equal("paused", (await ActAsync(id, "pause")).GetProperty("state").GetString());
        var rolledBack = await ActAsync(id, "rollback");

        Assert.Equal(ExperimentStates.RolledBack, rolledBack.GetProperty("state").GetString());
        Assert.Equal(["start", "pause", "rollback"], rolledBack.GetProperty("decisions").EnumerateArray().Select(d => d.GetProperty("action").GetString()));
        Assert.Equal(HttpStatusCode.Conflict, (await fixture.Http.PostAsync($"/v1/admin/experiments/{id}/promote", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync("/v1/admin/models/feedback/traffic", new { defaultVersion = "2" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.GetAsync("/v1/experiments/feedback-999")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.GetAsync("/v1/experiments/not-an-id")).StatusCode);
    }

    [Theory]
    [InlineData("""{"model": "canary-good", "candidate": "2", "steps": [50, 10]}""", "steps")]
    [InlineData("""{"model": "canary-good", "candidate": "2", "kind": "bandit"}""", "kind")]
    [InlineData("""{"model": "canary-good", "candidate": "2", "confidence": 1.5}""", "confidence")]
    [InlineData("""{"model": "canary-good"}""", "candidate")]
    [InlineData("""{"model": "canary-good", "candidate": "2", "baseline": "2"}""", "candidate")]
    public async Task ABadExperiment_IsA400NamingTheField(string body, string field)
    {
        using var response = await fixture.Http.PostAsync("/v1/admin/experiments", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(field, (await response.JsonAsync()).GetProperty("field").GetString());
    }

    [Fact]
    public async Task OnlyAdminsRunExperiments_ButAnyKeyReadsThem()
    {
        using var user = fixture.Client(await fixture.NewUserKeyAsync("experiment-user"));

        Assert.Equal(HttpStatusCode.Forbidden, (await user.PostAsJsonAsync("/v1/admin/experiments", new { model = "canary-good", candidate = "2" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await user.GetAsync("/v1/experiments")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.Client().GetAsync("/v1/experiments")).StatusCode);
    }

    private async Task<string> StartAsync(object spec)
    {
        using var response = await fixture.Http.PostAsJsonAsync("/v1/admin/experiments", spec);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("id").GetString()!;
    }

    /// <summary>What the experiment counted in each arm: requests, errors and labels.</summary>
    private static string[] Arms(JsonElement view) =>
        view.GetProperty("arms").EnumerateArray()
            .Select(a => $"{a.GetProperty("version")}: {a.GetProperty("requests")} requests, {a.GetProperty("errors")} errors, {a.GetProperty("labelled")} labelled")
            .ToArray();

    private async Task<JsonElement> ActAsync(string id, string action)
    {
        using var response = await fixture.Http.PostAsync($"/v1/admin/experiments/{id}/{action}", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.JsonAsync();
    }

    /// <summary>Starts the experiment and drives 100 users' traffic at its model until it ends (60 s at most).</summary>
    private async Task<(JsonElement View, LifecycleFixture.Traffic Traffic)> RunUntilEndedAsync(string model, object spec)
    {
        var id = await StartAsync(spec);
        var ended = false;
        JsonElement view = default;
        var drive = fixture.DriveAsync(model, users: 100, _ => Volatile.Read(ref ended), TimeSpan.FromSeconds(60));
        while (!drive.IsCompleted)
        {
            view = await fixture.Http.GetFromJsonAsync<JsonElement>($"/v1/experiments/{id}");
            if (ExperimentStates.HasEnded(view.GetProperty("state").GetString()!))
            {
                Volatile.Write(ref ended, true);
            }

            await Task.Delay(100);
        }

        return (view, await drive);
    }

    private async Task SetFaultsAsync(string model, object faults) =>
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync($"/v1/admin/models/{model}/versions/1/faults", faults)).StatusCode);

    /// <summary>The policy sends everything to <paramref name="version"/>, and routers follow it.</summary>
    private async Task AllTrafficToAsync(string model, string version)
    {
        var policy = await fixture.Http.GetFromJsonAsync<JsonElement>($"/v1/admin/models/{model}/traffic");
        Assert.Equal(version, policy.GetProperty("defaultVersion").GetString());
        Assert.Equal(0, policy.GetProperty("split").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, policy.GetProperty("experiment").ValueKind);

        // Routers refresh a policy a second after they last read it, in the background, on their next request.
        await Task.Delay(1000);
        await fixture.DriveAsync(model, users: 100, t => t.Total >= 10);
        await Task.Delay(200);
        var after = await fixture.DriveAsync(model, users: 100, t => t.Total >= 100);
        Assert.Equal([version], after.ByVersion.Keys);
    }
}
