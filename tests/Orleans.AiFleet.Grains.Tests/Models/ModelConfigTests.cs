using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Tests.Models;

/// <summary>Every model served on /v2 prices its work, checked when the repository loads it.</summary>
public sealed class ModelConfigTests
{
    [Fact]
    public void Validate_TokenPricedModelWithoutATokenInput_IsRefusedNamingTheCost()
    {
        var config = Shipped("chat-lm") with { Cost = new CostConfig(CostPer1kTokens: 0.0001m, TokensInput: null), Inputs = [Spec("ids", "INT64"), Spec("state", "FP32")] };

        Assert.Contains(config.Validate(), e => e.StartsWith("cost: a model served on /v2 needs a price", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_UnpricedModel_IsRefused()
    {
        var config = Shipped("digits") with { Cost = new CostConfig() };

        Assert.Contains(config.Validate(), e => e.StartsWith("cost: a model served on /v2 needs a price", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_EveryShippedLocalModel_IsPriced()
    {
        foreach (var name in new[] { "digits", "text-encoder", "sentence-encoder", "chat-lm" })
        {
            Assert.Empty(Shipped(name).Validate());
        }
    }

    [Fact]
    public void Price_ChatLmOverKServe_ChargesItsTokens_RowsTimesSequence()
    {
        var chat = Model("chat-lm");
        var request = new InferenceRequest("chat-lm", null, [Tensor.FromInt64s("input_ids", [4, 500], new long[2000]), Tensor.FromFloats("state", [4, 256], new float[1024])]);

        Assert.Equal(0.0002m, chat.Price(request)); // 2,000 tokens at $0.0001 per 1k
    }

    [Fact]
    public void Price_DigitsPerRow_NeverZero()
    {
        var digits = Model("digits");

        Assert.Equal(0.00003m, digits.Price(Samples.Digit("digits", 0, rows: 3)));
        Assert.True(digits.Price(Samples.Digit("digits", 0, rows: 1)) > 0m);
    }

    [Fact]
    public void Validate_VocabSizeOnAFloatInput_IsRefused()
    {
        var config = Shipped("digits") with { Inputs = [new TensorConfig("pixels", "FP32", [-1, 64], VocabSize: 10)] };

        Assert.Contains(config.Validate(), e => e.Contains("vocabSize is for INT64 token ids", StringComparison.Ordinal));
    }

    private static TensorConfig Spec(string name, string type) => new(name, type, [-1, -1]);

    private static ModelConfig Shipped(string name) =>
        JsonSerializer.Deserialize<ModelConfig>(File.ReadAllText(Path.Combine(TestRepository.Shipped, name, "config.json")), ModelConfig.Json)!;

    private static RepositoryModel Model(string name) => new(name, Path.Combine(TestRepository.Shipped, name), Shipped(name), ["1"]);
}
