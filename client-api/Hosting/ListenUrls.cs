namespace Orleans.AiFleet.ClientApi.Hosting;

/// <summary>
/// Where HTTP listens: the standard settings first (<c>ASPNETCORE_URLS</c>, <c>--urls</c> or <c>Urls</c>; else
/// <c>ASPNETCORE_HTTP_PORTS</c> on every address), and only when none is set, loopback port 5080. The default lives
/// here, not in appsettings.json, where it would override <c>ASPNETCORE_URLS</c> (environment variables with that
/// prefix are read before the settings file).
/// </summary>
internal static class ListenUrls
{
    public const string Default = "http://127.0.0.1:5080";

    /// <summary>The configured URLs, or <see cref="Default"/>.</summary>
    public static string[] Of(IConfiguration configuration)
    {
        var split = StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries;
        if (configuration["urls"]?.Split(';', split) is { Length: > 0 } urls)
        {
            return urls;
        }

        if (configuration["http_ports"]?.Split(';', split) is { Length: > 0 } ports)
        {
            return ports.Select(p => $"http://*:{p}").ToArray();
        }

        return [Default];
    }

    /// <summary>Listens on the default when nothing standard says where.</summary>
    public static WebApplicationBuilder UseDefaultUrlsUnlessConfigured(this WebApplicationBuilder builder)
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration["urls"]) && string.IsNullOrWhiteSpace(builder.Configuration["http_ports"]))
        {
            builder.WebHost.UseUrls(Default);
        }

        return builder;
    }
}
