using Microsoft.Extensions.Options;

namespace Orleans.AiFleet.ClientApi.Auth;

/// <summary>
/// Sign-in with the platform's own identity provider, bound from <c>AiFleet:Auth:Jwt</c>: JWT bearer tokens validated
/// by ASP.NET Core's JwtBearer against the provider's keys, found by OpenID Connect discovery (<see cref="Authority"/>
/// or <see cref="MetadataAddress"/>) or given as a static JWKS (<see cref="Jwks"/>, with <see cref="Issuer"/>). Off
/// while neither is set; API keys work either way.
/// </summary>
public sealed class TokenOptions
{
    public const string SectionName = "AiFleet:Auth:Jwt";

    /// <summary>The provider's issuer URL; discovery is read from <c>{Authority}/.well-known/openid-configuration</c>.</summary>
    public string? Authority { get; set; }

    /// <summary>The discovery document's URL, when it is not under <see cref="Authority"/>.</summary>
    public string? MetadataAddress { get; set; }

    /// <summary>A static JSON Web Key Set (the JSON text) instead of discovery; needs <see cref="Issuer"/>.</summary>
    public string? Jwks { get; set; }

    /// <summary>The issuer tokens must name; by default the <see cref="Authority"/> (or discovery's issuer).</summary>
    public string? Issuer { get; set; }

    /// <summary>The audience tokens must name (this service's resource id at the provider). Required.</summary>
    public string? Audience { get; set; }

    public const int DefaultClockSkewSeconds = 30;
    public const int MaxClockSkewSeconds = 300;

    /// <summary>How far a token's lifetime may be off the clock here (0 to 300 s).</summary>
    public int ClockSkewSeconds { get; set; } = DefaultClockSkewSeconds;

    /// <summary>Discovery over HTTPS only; turn off only for a provider on loopback (tests).</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    public const int DefaultUnknownKeyRefreshSeconds = 60;

    /// <summary>
    /// The least time between two fetches of the provider's keys on a token signed with a key not known here (a
    /// rotation): a flood of made-up key ids fetches at most once per period.
    /// </summary>
    public int UnknownKeyRefreshSeconds { get; set; } = DefaultUnknownKeyRefreshSeconds;

    /// <summary>Which token claims say who the bearer is.</summary>
    public TokenClaimNames Claims { get; set; } = new();

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority) || !string.IsNullOrWhiteSpace(MetadataAddress) || !string.IsNullOrWhiteSpace(Jwks);
}

/// <summary>
/// The claim names a token's user, organization, teams, role, tier and display name are read from. The user and the
/// organization are required; without teams the user is charged at organization and user level only; without a role
/// they are a member.
/// </summary>
public sealed class TokenClaimNames
{
    public string User { get; set; } = "sub";
    public string Org { get; set; } = "org";

    /// <summary>A JSON array claim (or one claim per team).</summary>
    public string Teams { get; set; } = "teams";

    public string Role { get; set; } = "role";
    public string Tier { get; set; } = "tier";
    public string Name { get; set; } = "name";
}

/// <summary>Reports every setting that would make token sign-in unsafe or unusable.</summary>
internal sealed class TokenOptionsValidator : IValidateOptions<TokenOptions>
{
    public ValidateOptionsResult Validate(string? name, TokenOptions o)
    {
        if (!o.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.Audience))
        {
            errors.Add($"{TokenOptions.SectionName}:Audience must be set: tokens meant for another service must not be accepted here");
        }

        if (!string.IsNullOrWhiteSpace(o.Jwks) && string.IsNullOrWhiteSpace(o.Issuer))
        {
            errors.Add($"{TokenOptions.SectionName}:Issuer must be set with a static Jwks");
        }

        if (o.ClockSkewSeconds is < 0 or > TokenOptions.MaxClockSkewSeconds)
        {
            errors.Add($"{TokenOptions.SectionName}:ClockSkewSeconds must be between 0 and {TokenOptions.MaxClockSkewSeconds}");
        }

        if (o.UnknownKeyRefreshSeconds is < 1 or > 86_400)
        {
            errors.Add($"{TokenOptions.SectionName}:UnknownKeyRefreshSeconds must be between 1 and 86400");
        }

        foreach (var (claim, value) in new[] { ("User", o.Claims.User), ("Org", o.Claims.Org), ("Teams", o.Claims.Teams), ("Role", o.Claims.Role), ("Tier", o.Claims.Tier), ("Name", o.Claims.Name) })
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                errors.Add($"{TokenOptions.SectionName}:Claims:{claim} must name a claim");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
