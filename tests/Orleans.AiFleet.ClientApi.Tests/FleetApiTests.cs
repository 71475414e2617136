using System.Net;

namespace Orleans.AiFleet.ClientApi.Tests;

[Collection(ApiCollection.Name)]
public sealed class FleetApiTests(ApiFixture fixture)
{
    [Fact]
    public async Task GetFleet_AfterWarmUp_ListsEveryModelWithItsReplicasInRotation()
    {
        await fixture.Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0));

        var fleets = await (await fixture.Http.GetAsync("/v1/fleet")).JsonAsync();

        Assert.Equal(["chat-lm", "digits", "sentence-encoder", "text-encoder"], fleets.EnumerateArray().Select(f => f.GetProperty("model").GetString()).Order());
        var digits = fleets.EnumerateArray().Single(f => f.GetProperty("model").GetString() == "digits");
        var v2 = digits.GetProperty("versions").EnumerateArray().Single(v => v.GetProperty("version").GetString() == "2");
        Assert.Equal(2, v2.GetProperty("desired").GetInt32());
        Assert.Equal(["digits/2/0", "digits/2/1"], v2.GetProperty("inRotation").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(32, v2.GetProperty("targetInFlightPerReplica").GetInt32());
        Assert.Empty(v2.GetProperty("circuits").EnumerateArray()); // no breaker has tripped
        Assert.StartsWith("S127.0.0.1:", digits.GetProperty("silo").GetString()); // where the fleet grain runs
    }

    [Fact]
    public async Task GetFleetOfOneModel_ReportsReplicaLoad()
    {
        await fixture.Http.PostJsonAsync("/v2/models/text-encoder/infer", new System.Text.Json.Nodes.JsonObject
        {
            ["inputs"] = System.Text.Json.Nodes.JsonNode.Parse("""[{"name":"input_ids","shape":[1,3],"datatype":"INT64","data":[2,50,3]},{"name":"attention_mask","shape":[1,3],"datatype":"INT64","data":[1,1,1]}]"""),
        });
        var giveUp = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var fleet = await (await fixture.Http.GetAsync("/v1/fleet/text-encoder")).JsonAsync();
            var loads = fleet.GetProperty("versions")[0].GetProperty("loads").EnumerateArray().ToArray();
            if (loads.Length >= 2 && loads.Sum(l => l.GetProperty("completedRequests").GetInt64()) >= 1) // at least minReplicas: other tests in the collection may have scaled it up
            {
                Assert.All(loads, l => Assert.StartsWith("text-encoder/1/", l.GetProperty("replicaId").GetString()));
                return;
            }

            Assert.True(DateTime.UtcNow < giveUp, "no load reports from at least two replicas within 20 s");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task GetFleetOfUnknownModel_Returns404ProblemDetails()
    {
        var response = await fixture.Http.GetAsync("/v1/fleet/nope");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("'nope' is not in the repository", (await response.JsonAsync()).GetProperty("detail").GetString());
    }
}
