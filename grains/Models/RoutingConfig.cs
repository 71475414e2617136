using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>
/// The repository's <c>routing.json</c>: the user tiers and which model tiers each may use (<c>"*"</c>: any), and the
/// tier of keys issued without one, and each user tier's queue lane (<c>lanes</c>: <c>high</c>, <c>normal</c> or
/// <c>low</c>; a tier not listed is <c>normal</c>). Without the file every key may use every model, all in one lane.
/// </summary>
public sealed record RoutingConfig
{
    public const string FileName = "routing.json";
    public const string AnyTier = "*";

    public string DefaultUserTier { get; init; } = "standard";

    public IReadOnlyDictionary<string, IReadOnlyList<string>> UserTiers { get; init; } =
        new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal) { ["standard"] = [AnyTier] };

    /// <summary>The highest queue lane each user tier's requests may use, by lane name.</summary>
    public IReadOnlyDictionary<string, string> Lanes { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>How many other models an <c>auto</c> request may fall back to (or hedge on) after the first.</summary>
    public int MaxFallbacks { get; init; } = 3;

    /// <summary>The user tier a key's tier stands for: itself when known, else the default.</summary>
    public string Resolve(string? userTier) =>
        userTier is not null && UserTiers.ContainsKey(userTier) ? userTier : DefaultUserTier;

    /// <summary>Whether a user of <paramref name="userTier"/> may use a model of <paramref name="modelTier"/>.</summary>
    public bool Allows(string? userTier, string modelTier) =>
        UserTiers.TryGetValue(Resolve(userTier), out var tiers) && (tiers.Contains(AnyTier) || tiers.Contains(modelTier));

    /// <summary>
    /// The lane a request of <paramref name="userTier"/> runs in: its tier's lane, or the lower one it asked for.
    /// </summary>
    public Priority Lane(string? userTier, Priority? asked)
    {
        var allowed = Lanes.TryGetValue(Resolve(userTier), out var name) && Priorities.TryParse(name, out var lane) ? lane : Priority.Normal;
        return asked is { } a && a < allowed ? a : allowed;
    }

    /// <summary>Throws invalid-argument naming the user tiers when <paramref name="tier"/> (null: the default) is not one of them.</summary>
    public void CheckUserTier(string? tier)
    {
        if (tier is not null && !UserTiers.ContainsKey(tier))
        {
            throw AiFleetException.Invalid(
                $"'tier' must be one of the catalogue's user tiers ({string.Join(", ", UserTiers.Keys.Order(StringComparer.Ordinal))}), not '{tier}'", "tier");
        }
    }

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        foreach (var (tier, lane) in Lanes)
        {
            if (!UserTiers.ContainsKey(tier))
            {
                errors.Add($"lanes.{tier}: '{tier}' is not one of userTiers");
            }

            if (!Priorities.TryParse(lane, out _))
            {
                errors.Add($"lanes.{tier} must be one of {Priorities.List}, not '{lane}'");
            }
        }

        if (UserTiers.Count == 0)
        {
            errors.Add("userTiers must define at least one user tier");
        }

        if (!UserTiers.ContainsKey(DefaultUserTier))
        {
            errors.Add($"defaultUserTier '{DefaultUserTier}' is not one of userTiers");
        }

        foreach (var (tier, allowed) in UserTiers)
        {
            if (allowed is null || allowed.Count == 0)
            {
                errors.Add($"userTiers.{tier} must list the model tiers it may use");
            }
        }

        if (MaxFallbacks is < 0 or > 9)
        {
            errors.Add("maxFallbacks must be from 0 to 9");
        }

        return errors;
    }

    /// <summary>Reads routing.json from the repository folder, or the defaults when it has none.</summary>
    internal static RoutingConfig Load(string root)
    {
        var path = Path.Combine(root, FileName);
        if (!File.Exists(path))
        {
            return new RoutingConfig();
        }

        RoutingConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<RoutingConfig>(File.ReadAllText(path), ModelConfig.Json);
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"{path} is not valid: {e.Message}", e);
        }

        var errors = config?.Validate() ?? ["the file is empty"];
        return errors.Count == 0
            ? config!
            : throw new InvalidOperationException($"{path} is not valid: {string.Join("; ", errors)}");
    }
}
