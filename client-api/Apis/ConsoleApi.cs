using System.Reflection;
using Orleans.AiFleet.ClientApi.Hosting;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// The operator console at <c>/console</c>, behind the same sign-in as <c>/dashboard</c> (an admin key, then a
/// cookie). Its pages are static HTML and script committed in client-api/Console/ (no build step) and read their data
/// from <c>/console/api/*</c>, which take the cookie (or a Bearer key) and answer JSON.
/// </summary>
internal static class ConsoleApi
{
    private static readonly Lazy<byte[]> FleetPage = new(() => Page("fleet.html"));

    public static IEndpointRouteBuilder MapConsoleApi(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").RequireAuthorization(ApiServiceExtensions.DashboardPolicy).ExcludeFromDescription();
        console.MapGet("", () => TypedResults.Bytes(FleetPage.Value, "text/html; charset=utf-8"));
        console.MapGet("/api/fleet", FleetApi.ListAsync);
        return app;
    }

    private static byte[] Page(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"Orleans.AiFleet.ClientApi.Console.{name}")
            ?? throw new InvalidOperationException($"the console page {name} is not embedded in client-api");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
