using System.Text.Json.Nodes;

namespace Orleans.AiFleet.Tests;

/// <summary>The repository's shipped models, and throwaway repositories built from them with other settings.</summary>
internal static class TestRepository
{
    /// <summary>The shipped models/ folder of this clone.</summary>
    public static string Shipped { get; } = FindShipped();

    /// <summary>A temp copy of the whole shipped repository, for hosts whose tests upload versions into their repository folder.</summary>
    public static string CopyOfShipped()
    {
        var root = Directory.CreateTempSubdirectory("aifleet-shipped-").FullName;
        foreach (var file in Directory.EnumerateFiles(Shipped, "*", SearchOption.AllDirectories))
        {
            var dest = Path.Combine(root, Path.GetRelativePath(Shipped, file));
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(file, dest);
        }

        return root;
    }

    /// <summary>
    /// A temp repository holding copies of a shipped model under new names, each with config.json overrides,
    /// so tests get small queues or long delays without a second set of model files in the repo.
    /// </summary>
    public static string Create(string shippedModel, params (string Name, Action<JsonObject> Edit)[] variants) =>
        Directory.CreateTempSubdirectory("aifleet-models-").FullName.WithVariants(shippedModel, variants);

    /// <summary>Adds copies of a shipped model under new names, with config.json overrides, to the repository at <paramref name="root"/>.</summary>
    public static string WithVariants(this string root, string shippedModel, params (string Name, Action<JsonObject> Edit)[] variants)
    {
        foreach (var (name, edit) in variants)
        {
            var source = Path.Combine(Shipped, shippedModel);
            var target = Path.Combine(root, name);
            foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                var dest = Path.Combine(target, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
                File.Copy(file, dest);
            }

            var configPath = Path.Combine(target, "config.json");
            var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            edit(config);
            File.WriteAllText(configPath, config.ToJsonString());
        }

        return root;
    }

    /// <summary>Adds the shipped routing.json (user tiers and their lanes) to the repository at <paramref name="root"/>.</summary>
    public static string WithShippedRouting(this string root)
    {
        File.Copy(Path.Combine(Shipped, "routing.json"), Path.Combine(root, "routing.json"), overwrite: true);
        return root;
    }

    /// <summary>The shipped catalogue's remote chat models (their config folders hold no weights).</summary>
    public static readonly IReadOnlyList<string> RemoteModels = ["premium-chat", "long-context-chat", "standard-chat", "budget-chat"];

    /// <summary>
    /// A temp repository with the shipped catalogue as users run it (the self-hosted chat-lm, the four remote tiers and
    /// routing.json), the remote models pointed at <paramref name="baseUrl"/> (a loopback fake provider) with their
    /// key read from <paramref name="keyVariable"/>, which is set to <paramref name="key"/> in this process.
    /// <paramref name="edit"/> may change any model's config.
    /// </summary>
    public static string WithProviders(string baseUrl, string keyVariable, string key, Action<string, JsonObject>? edit = null)
    {
        Environment.SetEnvironmentVariable(keyVariable, key);
        var root = Directory.CreateTempSubdirectory("aifleet-catalogue-").FullName;
        File.Copy(Path.Combine(Shipped, "routing.json"), Path.Combine(root, "routing.json"));
        foreach (var name in RemoteModels.Append("chat-lm"))
        {
            var source = Path.Combine(Shipped, name);
            foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
            {
                var dest = Path.Combine(root, name, Path.GetRelativePath(source, file));
                Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
                File.Copy(file, dest);
            }

            var configPath = Path.Combine(root, name, "config.json");
            var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
            if (config["remote"] is JsonObject remote)
            {
                remote["baseUrl"] = baseUrl;
                remote["apiKeyEnv"] = keyVariable;
            }

            edit?.Invoke(name, config);
            File.WriteAllText(configPath, config.ToJsonString());
        }

        return root;
    }

    private static string FindShipped()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "models");
            if (File.Exists(Path.Combine(candidate, "digits", "config.json")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("the repository's models/ folder was not found above the test binaries");
    }
}
