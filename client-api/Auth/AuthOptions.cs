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

    public const int DefaultFailedAttemptsPerMinute = 30;

    /// <summary>Failed keys and sign-ins one client address may make in a minute before it is answered 429.</summary>
    public int FailedAttemptsPerMinute { get; set; } = DefaultFailedAttemptsPerMinute;

    public const int DefaultSocketRecheckSeconds = 10;

    /// <summary>How often an open WebSocket asks the cluster whether its key is still active (a revoked one closes it, 1008).</summary>
    public int SocketRecheckSeconds { get; set; } = DefaultSocketRecheckSeconds;
}

/// <summary>
/// Checks the admin key: long enough, not a placeholder, and set whenever HTTP listens beyond loopback (a key made
/// up at start and written to the log is for a laptop only). <paramref name="configuration"/> gives the listening
/// URLs (<c>Urls</c> and Kestrel endpoints); without it nothing is known to listen beyond loopback.
/// </summary>
internal sealed class AuthOptionsValidator(IConfiguration? configuration = null) : IValidateOptions<AuthOptions>
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

        if (string.IsNullOrEmpty(o.AdminKey) && configuration is not null && BeyondLoopback(configuration) is { } url)
        {
            errors.Add($"{AuthOptions.SectionName}:AdminKey must be set when HTTP listens beyond loopback ({url}): a generated key is for localhost only");
        }

        if (o.CacheSeconds is < 0 or > 300)
        {
            errors.Add($"{AuthOptions.SectionName}:CacheSeconds must be between 0 and 300");
        }

        if (o.FailedAttemptsPerMinute < 1)
        {
            errors.Add($"{AuthOptions.SectionName}:FailedAttemptsPerMinute must be at least 1");
        }

        if (o.SocketRecheckSeconds is < 1 or > 60)
        {
            errors.Add($"{AuthOptions.SectionName}:SocketRecheckSeconds must be between 1 and 60");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>The first configured listening URL whose host is not loopback (<c>*</c>, <c>+</c>, 0.0.0.0, a name or address), or null.</summary>
    internal static string? BeyondLoopback(IConfiguration configuration)
    {
        var urls = Hosting.ListenUrls.Of(configuration)
            .Concat(configuration.GetSection("Kestrel:Endpoints").GetChildren().Select(e => e["Url"]).OfType<string>());
        foreach (var url in urls)
        {
            var host = url.Split("://", 2) is [_, var rest] ? rest.Split('/')[0] : url;
            host = host.StartsWith('[') ? host[..(host.IndexOf(']') + 1)] : host.Split(':')[0];
            if (host is not ("localhost" or "127.0.0.1" or "[::1]") && !host.StartsWith("127.", StringComparison.Ordinal))
            {
                return url;
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="key"/> contains a placeholder marker or is one character repeated (any case).</summary>
    internal static bool IsPlaceholder(string key) =>
        PlaceholderMarkers.Any(marker => key.Contains(marker, StringComparison.OrdinalIgnoreCase))
        || (key.Length > 0 && key.All(c => char.ToLowerInvariant(c) == char.ToLowerInvariant(key[0])));
}
