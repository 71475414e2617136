using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>A version uploaded at run time: what the store holds of it, and where this silo has its ONNX file.</summary>
internal sealed record UploadedVersion(StoredVersion Stored, string Path);

/// <summary>
/// A model of the repository: its folder, its parsed config, the versions that have a model.onnx (shipped or
/// uploaded), and the uploaded ones' files and config overrides.
/// </summary>
internal sealed record RepositoryModel(string Name, string Folder, ModelConfig Config, IReadOnlyList<string> Versions)
{
    public string DefaultVersion => Config.DefaultVersion ?? Versions[^1];

    /// <summary>Versions uploaded at run time, by version.</summary>
    public IReadOnlyDictionary<string, UploadedVersion> Uploaded { get; init; } = new Dictionary<string, UploadedVersion>();

    public string ModelPath(string version) =>
        Uploaded.TryGetValue(version, out var uploaded) ? uploaded.Path : Path.Combine(Folder, version, "model.onnx");

    /// <summary>The config a version runs with: the model's, with an uploaded version's overrides of its serving fields.</summary>
    public ModelConfig ConfigFor(string version) =>
        Uploaded.TryGetValue(version, out var uploaded) && uploaded.Stored.ConfigJson is { } overrides
            ? VersionOverrides.Apply(Config, overrides)
            : Config;

    /// <summary>This model with <paramref name="uploaded"/> added (or replaced).</summary>
    public RepositoryModel With(UploadedVersion uploaded) => this with
    {
        Versions = Versions.Append(uploaded.Stored.Version).Distinct(StringComparer.Ordinal).OrderBy(long.Parse).ToArray(),
        Uploaded = new Dictionary<string, UploadedVersion>(Uploaded) { [uploaded.Stored.Version] = uploaded },
    };

    /// <summary>This model without the uploaded version <paramref name="version"/>.</summary>
    public RepositoryModel Without(string version) => this with
    {
        Versions = Versions.Where(v => v != version).ToArray(),
        Uploaded = Uploaded.Where(u => u.Key != version).ToDictionary(),
    };

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

    /// <summary>
    /// What a KServe call costs: per row, plus per 1k tokens of its token input, rounded up to the nano-dollar. Never 0
    /// for a loaded local model, whose config must price its work (a call of no rows is charged as one).
    /// </summary>
    public decimal Price(InferenceRequest request)
    {
        var rows = Config.MaxBatchSize > 0 && request.Inputs is [{ Shape: [var first, ..] }, ..] ? Math.Max(first, 1) : 1;
        var tokens = Config.TokensInput is { } input && request.Inputs.FirstOrDefault(t => t.Name == input) is { } ids
            ? Math.Max(ids.ShapeElementCount(), 0)
            : 0;
        return Money.Ceiling((Config.Cost.CostPerInference * rows) + (Config.Cost.CostPer1kTokens * tokens / 1000m));
    }

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
    private readonly ConcurrentDictionary<string, RepositoryModel> _models;
    private readonly ConcurrentDictionary<string, long> _refreshedAt = new(StringComparer.Ordinal);
    private readonly IModelStore _store;
    private readonly ILogger<ModelRepository> _logger;

    public ModelRepository(IOptions<ModelRepositoryOptions> options, IModelStore store, ILogger<ModelRepository> logger)
    {
        _store = store;
        _logger = logger;
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

    public IReadOnlyCollection<RepositoryModel> Models => _models.Values.OrderBy(m => m.Name, StringComparer.Ordinal).ToArray();

    public RepositoryModel? Find(string name) => _models.GetValueOrDefault(name);

    /// <summary>The store of uploaded versions this silo loads from.</summary>
    public IModelStore Store => _store;

    /// <summary>Adds (or replaces) an uploaded version on this silo.</summary>
    public void Add(UploadedVersion uploaded) =>
        _models.AddOrUpdate(uploaded.Stored.Model, _ => throw AiFleetException.ModelNotFound($"model '{uploaded.Stored.Model}' is not in the repository"), (_, m) => m.With(uploaded));

    /// <summary>Forgets an uploaded version on this silo.</summary>
    public void Remove(string model, string version)
    {
        if (_models.TryGetValue(model, out var m) && m.Uploaded.ContainsKey(version))
        {
            _models[model] = m.Without(version);
        }
    }

    /// <summary>
    /// Brings this silo's view of a model's uploaded versions in line with the store (fetching new files once),
    /// at most once a second per model unless <paramref name="force"/>: a request for a version this silo has not seen
    /// yet costs one store query, and a flood of made-up versions no more than one a second.
    /// </summary>
    public async Task RefreshAsync(string model, bool force = false, CancellationToken cancellationToken = default)
    {
        var now = Environment.TickCount64;
        if (!_models.ContainsKey(model) || (!force && now - _refreshedAt.GetValueOrDefault(model, long.MinValue / 2) < 1000))
        {
            return;
        }

        _refreshedAt[model] = now;
        var stored = await _store.ListAsync(model, cancellationToken);
        foreach (var version in stored)
        {
            if (Find(model)?.Uploaded.GetValueOrDefault(version.Version)?.Stored.Sha256 != version.Sha256
                && await _store.MaterializeAsync(version, cancellationToken) is { } path)
            {
                Add(new UploadedVersion(version, path));
                LogVersionAdded(_logger, model, version.Version, version.Sha256);
            }
        }

        foreach (var gone in Find(model)?.Uploaded.Keys.Except(stored.Select(v => v.Version)).ToArray() ?? [])
        {
            Remove(model, gone);
        }
    }

    /// <summary>Loads every uploaded version from the store (at silo start, so a full restart serves them again).</summary>
    public async Task LoadUploadedAsync(CancellationToken cancellationToken)
    {
        foreach (var model in _models.Keys.ToArray())
        {
            await RefreshAsync(model, force: true, cancellationToken);
        }
    }

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

        if (errors.Count > 0)
        {
            return (null, errors);
        }

        var model = new RepositoryModel(name, folder, config, versions);
        foreach (var version in versions)
        {
            var upload = Path.Combine(folder, version, FolderModelStore.UploadFile);
            if (File.Exists(upload) && JsonSerializer.Deserialize<StoredVersion>(File.ReadAllText(upload)) is { } stored)
            {
                model = model.With(new UploadedVersion(stored, Path.Combine(folder, version, "model.onnx")));
            }
        }

        return (model, errors);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model}: uploaded version {Version} (sha256 {Sha256}) is served on this silo")]
    private static partial void LogVersionAdded(ILogger logger, string model, string version, string sha256);

    [LoggerMessage(Level = LogLevel.Information, Message = "Model {Model}: versions {Versions}, default {DefaultVersion}")]
    private static partial void LogModelFound(ILogger logger, string model, string versions, string defaultVersion);

    private const string MissingKey = "environment variable";

    [LoggerMessage(Level = LogLevel.Information, Message = "Remote model {Model} is off: {Reason}")]
    private static partial void LogRemoteModelOff(ILogger logger, string model, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Model {Model} is not served: {Errors}")]
    private static partial void LogModelSkipped(ILogger logger, string model, string errors);
}
