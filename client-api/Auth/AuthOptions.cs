using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>Authentication settings, bound from <c>AiFleet:Auth</c>.</summary>
public sealed class AuthOptions
{
    public const string SectionName = "AiFleet:Auth";
    public const int DefaultCacheSeconds = 10;

    /// <summary>
    /// The bootstrap admin key (env <c>AIFLEET__AUTH__ADMINKEY</c>), with which an operator creates the first keys.
    /// Unset: client-api makes one at start and logs it (fine on a laptop, not in production).
    /// </summary>
    public string? AdminKey { get; set; }

    /// <summary>How long client-api trusts a key lookup; a revoked key stops working within this time.</summary>
    public int CacheSeconds { get; set; } = DefaultCacheSeconds;
}

internal sealed class AuthOptionsValidator : IValidateOptions<AuthOptions>
{
    public ValidateOptionsResult Validate(string? name, AuthOptions o)
    {
        var errors = new List<string>();
        if (o.AdminKey is { } key && key.Length < 16)
        {
            errors.Add($"{AuthOptions.SectionName}:AdminKey must be at least 16 characters");
        }

        if (o.CacheSeconds is < 0 or > 300)
        {
            errors.Add($"{AuthOptions.SectionName}:CacheSeconds must be between 0 and 300");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
