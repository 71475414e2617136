using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>A model of the repository: its folder, its parsed config and the versions that have a model.onnx.</summary>
internal sealed record RepositoryModel(string Name, string Folder, ModelConfig Config, IReadOnlyList<string> Versions)
{
    public string DefaultVersion => Config.DefaultVersion ?? Versions[^1];

    public string ModelPath(string version) => Path.Combine(Folder, version, "model.onnx");

    /// <summary>Served by a remote OpenAI-compatible provider rather than an ONNX session.</summary>
    public bool IsRemote => Config.Remote is not null;

    /// <summary>Answers <c>/v1/chat/completions</c>: a local generator or a remote chat model.</summary>
    public bool IsChat => IsRemote || Config.Generation is not null;

    /// <summary>The most tokens one answer may have.</summary>
    public int MaxNewTokens => Config.Remote?.MaxOutputTokens ?? Config.Generation?.MaxNewTokens ?? 0;

    /// <summary>The most tokens, prompt and answer, one request may hold (0 for models that read no text).</summary>
    public int ContextTokens => Config.ContextTokens ?? Config.Generation?.ContextLength ?? 0;

    public string Kind => IsChat ? "chat" : Config.Outputs.Any(o => o.Name == "sentence_embedding") ? "embeddings" : "tensor";

    /// <summary>What <paramref name="tokens"/> tokens cost on this model, per call plus per 1k tokens, rounded up to the nano-dollar.</summary>
    public decimal Price(int tokens) =>
        Money.Ceiling(Config.Cost.CostPerInference + (Config.Cost.CostPer1kTokens * tokens / 1000m));

    public ModelDescriptor ToDescriptor() => new(
        Name, Config.Platform, Versions, DefaultVersion,
        ModelConfig.ToSpecs(Config.Inputs), ModelConfig.ToSpecs(Config.Outputs), Config.MaxBatchSize,
        new CatalogEntry(Kind, Config.Tier, Config.Quality, Config.Cost.CostPerInference, Config.Cost.CostPer1kTokens,
            Config.P95LatencyMs, ContextTokens, Config.Remote?.Provider));
}

/// <summary>
/// The silo's read of the Triton-like repository: <c>&lt;name&gt;/config.json</c> and numbered version folders with
/// <c>model.onnx</c>. Read once at start; a model with a bad config is left out with an error naming the problem,
/// so one broken model does not stop the others.
/// </summary>
internal sealed partial class ModelRepository
{
    private readonly Dictionary<string, RepositoryModel> _models;

    public ModelRepository(IOptions<ModelRepositoryOptions> options, ILogger<ModelRepository> logger)
    {
        Root = options.Value.Resolve() ?? throw new DirectoryNotFoundException(options.Value.Path);
        Routing = RoutingConfig.Load(Root);
        _models = new(StringComparer.Ordinal);
        foreach (var folder in Directory.EnumerateDirectories(Root).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(folder);
            var configPath = Path.Combine(folder, "config.json");
            if (!File.Exists(configPath))
            {
                continue;
            }

            var (model, errors) = Load(name, folder, configPath);
            if (model is null && errors is [{ } only] && only.StartsWith(MissingKey, StringComparison.Ordinal))
            {
                LogRemoteModelOff(logger, name, only);
                continue;
            }

            if (model is null)
            {
                LogModelSkipped(logger, name, string.Join("; ", errors));
                continue;
            }

            _models[name] = model;
            LogModelFound(logger, name, string.Join(", ", model.Versions), model.DefaultVersion);
        }
    }

    public string Root { get; }

    /// <summary>User tiers and fallback limits from the repository's routing.json.</summary>
    public RoutingConfig Routing { get; }

    public IReadOnlyCollection<RepositoryModel> Models => _models.Values;

    public RepositoryModel? Find(string name) => _models.GetValueOrDefault(name);

    private static (RepositoryModel? Model, IReadOnlyList<string> Errors) Load(string name, string folder, string configPath)
    {
        ModelConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ModelConfig>(File.ReadAllText(configPath), ModelConfig.Json);
        }
        catch (JsonException e)
        {
            return (null, [$"config.json is not valid: {e.Message}"]);
        }

        if (config is null)
        {
            return (null, ["config.json is empty"]);
        }

        var errors = config.Validate().ToList();
        if (config.Platform == ModelConfig.RemotePlatform)
        {
            // The provider holds the weights: one version, "1", stands for whatever the provider serves under that id.
            if (config.Remote?.ApiKeyEnv is { Length: > 0 } env && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(env)))
            {
                errors.Add($"{MissingKey} {env} (the provider's API key) is not set");
            }

            return errors.Count > 0 ? (null, errors) : (new RepositoryModel(name, folder, config, ["1"]), errors);
        }

        var versions = Directory.EnumerateDirectories(folder)
            .Select(Path.GetFileName)
            .Where(v => v is not null && long.TryParse(v, out var n) && n > 0 && File.Exists(Path.Combine(folder, v, "model.onnx")))
            .Select(v => v!)
            .OrderBy(long.Parse)
            .ToArray();
        if (versions.Length == 0)
        {
            errors.Add("no version folder (1, 2, ...) holds a model.onnx");
        }
        else if (config.DefaultVersion is { } d && !versions.Contains(d))
        {
            errors.Add($"defaultVersion '{d}' has no model.onnx");
        }

        return errors.Count > 0 ? (null, errors) : (new RepositoryModel(name, folder, config, versions), errors);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model}: versions {Versions}, default {DefaultVersion}")]
    private static partial void LogModelFound(ILogger logger, string model, string versions, string defaultVersion);

    private const string MissingKey = "environment variable";

    [LoggerMessage(Level = LogLevel.Information, Message = "Remote model {Model} is off: {Reason}")]
    private static partial void LogRemoteModelOff(ILogger logger, string model, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Model {Model} is not served: {Errors}")]
    private static partial void LogModelSkipped(ILogger logger, string model, string errors);
}
