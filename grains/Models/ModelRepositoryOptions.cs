using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>Where the model repository lives. Bound from <c>AiFleet:Models</c> (env <c>AIFLEET__MODELS__PATH</c>).</summary>
public sealed class ModelRepositoryOptions
{
    public const string SectionName = "AiFleet:Models";
    public const string DefaultPath = "models";

    /// <summary>
    /// The repository folder. A relative path is looked up from the working directory and then from the
    /// application's folder upwards, so the repository's own models/ is found from a clone without settings.
    /// </summary>
    public string Path { get; set; } = DefaultPath;

    /// <summary>The folder <see cref="Path"/> names, or null when none is found.</summary>
    public string? Resolve()
    {
        if (System.IO.Path.IsPathRooted(Path))
        {
            return Directory.Exists(Path) ? Path : null;
        }

        var candidates = new List<string> { System.IO.Path.Combine(Directory.GetCurrentDirectory(), Path) };
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            candidates.Add(System.IO.Path.Combine(dir.FullName, Path));
        }

        return candidates.FirstOrDefault(Directory.Exists);
    }
}

internal sealed class ModelRepositoryOptionsValidator : IValidateOptions<ModelRepositoryOptions>
{
    public ValidateOptionsResult Validate(string? name, ModelRepositoryOptions options) =>
        string.IsNullOrWhiteSpace(options.Path)
            ? ValidateOptionsResult.Fail($"{ModelRepositoryOptions.SectionName}:Path must name the model repository folder")
            : options.Resolve() is null
                ? ValidateOptionsResult.Fail(
                    $"{ModelRepositoryOptions.SectionName}:Path '{options.Path}' was not found (looked in the working directory and above the application folder)")
                : ValidateOptionsResult.Success;
}
