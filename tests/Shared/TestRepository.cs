using System.Text.Json.Nodes;

namespace Orleans.AiFleet.Tests;

/// <summary>The repository's shipped models, and throwaway repositories built from them with other settings.</summary>
internal static class TestRepository
{
    /// <summary>The shipped models/ folder of this clone.</summary>
    public static string Shipped { get; } = FindShipped();

    /// <summary>
    /// A temp repository holding copies of a shipped model under new names, each with config.json overrides,
    /// so tests get small queues or long delays without a second set of model files in the repo.
    /// </summary>
    public static string Create(string shippedModel, params (string Name, Action<JsonObject> Edit)[] variants)
    {
        var root = Directory.CreateTempSubdirectory("aifleet-models-").FullName;
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
