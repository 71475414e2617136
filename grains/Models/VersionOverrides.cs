using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>
/// The config fields an uploaded version may set for itself: how it is served (batching delay, queue, timeout,
/// execution), never what it reads and returns (its inputs and outputs must be the model's) nor what it costs.
/// </summary>
internal static class VersionOverrides
{
    public static readonly IReadOnlyList<string> Fields = ["maxQueueDelayMs", "maxQueueLength", "requestTimeoutMs", "execution"];

    /// <summary>The problem with an overrides document, or null when it can be applied.</summary>
    public static string? Problem(ModelConfig config, string json)
    {
        JsonObject? overrides;
        try
        {
            overrides = JsonNode.Parse(json) as JsonObject;
        }
        catch (JsonException e)
        {
            return $"the config overrides are not JSON: {e.Message}";
        }

        if (overrides is null)
        {
            return "the config overrides must be a JSON object";
        }

        if (overrides.Select(p => p.Key).FirstOrDefault(k => !Fields.Contains(k)) is { } field)
        {
            return $"a version may not override '{field}'; it may set {string.Join(", ", Fields)}";
        }

        try
        {
            var merged = Apply(config, json);
            return merged.Validate() is [{ } first, ..] ? first : null;
        }
        catch (JsonException e)
        {
            return $"the config overrides do not fit: {e.Message}";
        }
    }

    public static ModelConfig Apply(ModelConfig config, string json)
    {
        var merged = JsonSerializer.SerializeToNode(config, ModelConfig.Json)!.AsObject();
        foreach (var (key, value) in JsonNode.Parse(json)!.AsObject())
        {
            if (Fields.Contains(key))
            {
                merged[key] = value?.DeepClone();
            }
        }

        return merged.Deserialize<ModelConfig>(ModelConfig.Json)!;
    }
}
