using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Tests;

/// <summary>Reading the catalogue: remote model configs, their API-key variables, and routing.json's user tiers.</summary>
public sealed class CatalogueTests
{
    private static ModelRepository Read(string root)
    {
        var options = Options.Create(new ModelRepositoryOptions { Path = root });
        return new(options, new FolderModelStore(options), NullLogger<ModelRepository>.Instance);
    }

    private static string Repository(params (string Name, Action<JsonObject> Edit)[] remotes)
    {
        var root = TestRepository.WithProviders("http://127.0.0.1:9/v1", "AIFLEET_CATALOGUE_TEST_KEY", "k");
        foreach (var (name, edit) in remotes)
        {
            var path = Path.Combine(root, name, "config.json");
            var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            edit(config);
            File.WriteAllText(path, config.ToJsonString());
        }

        return root;
    }

    [Fact]
    public void TheShippedCatalogue_FollowsTheRoutingTable()
    {
        var catalogue = Read(Repository());

        var rows = catalogue.Models.Where(m => m.IsChat).ToDictionary(m => m.Name, m => (m.Config.Tier, m.Config.Cost.CostPer1kTokens, m.Config.Quality, m.Config.P95LatencyMs));
        Assert.Equal(("premium", 0.03m, 0.95, 2000), rows["premium-chat"]);
        Assert.Equal(("long-context", 0.015m, 0.90, 1500), rows["long-context-chat"]);
        Assert.Equal(("standard", 0.002m, 0.85, 500), rows["standard-chat"]);
        Assert.Equal(("budget", 0.001m, 0.88, 800), rows["budget-chat"]);
        Assert.Equal(("self-hosted", 0.0001m, 0.80, 100), rows["chat-lm"]);
        Assert.Equal(["1"], catalogue.Find("premium-chat")!.Versions);
        Assert.True(catalogue.Find("premium-chat")!.IsRemote);
    }

    [Fact]
    public void ARemoteModel_WithoutItsKeyVariable_OrWithABadConfig_IsLeftOut_AndTheOthersLoad()
    {
        var root = Repository(
            ("premium-chat", c => c["remote"]!["apiKeyEnv"] = "AIFLEET_VARIABLE_NOBODY_SETS"),
            ("standard-chat", c => c["remote"]!["baseUrl"] = "not a url"),
            ("budget-chat", c => c["remote"]!["encoding"] = "p50k_base"));

        var catalogue = Read(root);

        Assert.Null(catalogue.Find("premium-chat"));
        Assert.Null(catalogue.Find("standard-chat"));
        Assert.Null(catalogue.Find("budget-chat"));
        Assert.NotNull(catalogue.Find("long-context-chat"));
        Assert.NotNull(catalogue.Find("chat-lm"));
    }

    [Fact]
    public void UserTiers_SayWhichModelTiersAKeyMayUse()
    {
        var routing = Read(Repository()).Routing;

        Assert.True(routing.Allows("free", "budget"));
        Assert.False(routing.Allows("free", "standard"));
        Assert.True(routing.Allows(null, "long-context")); // the default tier: standard
        Assert.False(routing.Allows(null, "premium"));
        Assert.True(routing.Allows("premium", "premium"));
        Assert.True(routing.Allows("no-such-tier", "standard")); // an unknown tier is the default
    }

    [Fact]
    public void AnInvalidRoutingFile_StopsStartWithTheProblemNamed()
    {
        var root = Repository();
        File.WriteAllText(Path.Combine(root, RoutingConfig.FileName), """{ "defaultUserTier": "gold", "userTiers": { "free": ["budget"] } }""");

        var error = Assert.Throws<InvalidOperationException>(() => Read(root));

        Assert.Contains("defaultUserTier 'gold' is not one of userTiers", error.Message);
    }
}
