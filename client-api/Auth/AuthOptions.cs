using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>Authentication settings, bound from <c>AiFleet:Auth</c>.</summary>
public sealed class AuthOptions
{
    public const string SectionName = "AiFleet:Auth";
    public const int DefaultCacheSeconds = 10;

    /// <summary>
    /// The bootstrap admin key (env <c>AIFLEET__AUTH__ADMINKEY</c>), with which an operator creates the first keys.
    /// Unset: client-api makes one at start and logs it (fine on a laptop, not in production). Set: at least 16
    /// characters and no placeholder (e.g. <c>change-me...</c> or one character repeated), or client-api does not start.
    /// </summary>
    public string? AdminKey { get; set; }

    /// <summary>How long client-api trusts a key lookup; a revoked key stops working within this time.</summary>
    public int CacheSeconds { get; set; } = DefaultCacheSeconds;
}

internal sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    /// <summary>Text that marks a key copied from an example or a template rather than generated (any case).</summary>
    private static readonly string[] PlaceholderMarkers = ["change-me", "changeme", "placeholder", "example", "<"];

    public ValidateOptionsResult Validate(string? name, AuthOptions o)
    {
        var errors = new List<string>();
        if (o.AdminKey is { } key)
        {
            if (key.Length < 16)
            {
                errors.Add($"{AuthOptions.SectionName}:AdminKey must be at least 16 characters");
            }

            if (IsPlaceholder(key))
            {
                errors.Add($"{AuthOptions.SectionName}:AdminKey looks like a placeholder, not a secret: generate one (e.g. `openssl rand -hex 32`) and set it");
            }
        }

        if (o.CacheSeconds is < 0 or > 300)
        {
            errors.Add($"{AuthOptions.SectionName}:CacheSeconds must be between 0 and 300");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Whether <paramref name="key"/> contains a placeholder marker or is one character repeated (any case).</summary>
    internal static bool IsPlaceholder(string key) =>
        PlaceholderMarkers.Any(marker => key.Contains(marker, StringComparison.OrdinalIgnoreCase))
        || (key.Length > 0 && key.All(c => char.ToLowerInvariant(c) == char.ToLowerInvariant(key[0])));
}
