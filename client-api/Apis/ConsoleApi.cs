using System.Reflection;
using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.GrainInterfaces.Courses;
using Orleans.AiFleet.ClientApi.Hosting;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// The operator console at <c>/console</c>, behind the same sign-in as <c>/dashboard</c> (an admin key, then a
/// cookie). Its pages are static HTML and script committed in client-api/Console/ (no build step) and read their data
/// from <c>/console/api/*</c>, which take the cookie (or a Bearer key) and answer JSON.
/// </summary>
internal static class ConsoleApi
{
    /// <summary>A signed-in user's own page: their spend and budget (every other console page is admins').</summary>
    public const string OwnPage = "/console/me";

    /// <summary>Each embedded file by name, with its content type.</summary>
    private static readonly Dictionary<string, (Lazy<byte[]> Bytes, string ContentType)> Files = new(StringComparer.Ordinal)
    {
        ["fleet.html"] = (new(() => Embedded("fleet.html")), "text/html; charset=utf-8"),
        ["spend.html"] = (new(() => Embedded("spend.html")), "text/html; charset=utf-8"),
        ["rollouts.html"] = (new(() => Embedded("rollouts.html")), "text/html; charset=utf-8"),
        ["keys.html"] = (new(() => Embedded("keys.html")), "text/html; charset=utf-8"),
        ["me.html"] = (new(() => Embedded("me.html")), "text/html; charset=utf-8"),
        ["jobs.html"] = (new(() => Embedded("jobs.html")), "text/html; charset=utf-8"),
        ["console.css"] = (new(() => Embedded("console.css")), "text/css; charset=utf-8"),
        ["console.js"] = (new(() => Embedded("console.js")), "text/javascript; charset=utf-8"),
    };

    public static IEndpointRouteBuilder MapConsoleApi(this IEndpointRouteBuilder app)
    {
        // Anyone signed in: their own page and its data, which name no user (the session's is the only one).
        var own = app.MapGroup(OwnPage).RequireAuthorization(ApiServiceExtensions.BrowserOrBearerPolicy).ExcludeFromDescription();
        own.MapGet("", () => Serve("me.html"));
        own.MapGet("/budget", AdminApi.OwnBudgetAsync);
        own.MapGet("/usage", AdminApi.OwnUsageAsync);
        own.MapGet("/jobs", (ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls) =>
            calls.RunAsync(_ => grains.GetGrain<ISagaIndexGrain>(0).ListAsync(caller.UserId(), 100)));
        app.MapGet("/console/assets/{name}", (string name) => Files.ContainsKey(name) && !name.EndsWith(".html", StringComparison.Ordinal) ? Serve(name) : Results.NotFound())
            .RequireAuthorization(ApiServiceExtensions.BrowserOrBearerPolicy).ExcludeFromDescription();

        var console = app.MapGroup("/console").RequireAuthorization(ApiServiceExtensions.DashboardPolicy).ExcludeFromDescription();
        console.MapGet("", () => Serve("fleet.html"));
        console.MapGet("/rollouts", () => Serve("rollouts.html"));
        console.MapGet("/spend", () => Serve("spend.html"));
        console.MapGet("/keys", () => Serve("keys.html"));
        console.MapGet("/jobs", () => Serve("jobs.html"));

        var data = console.MapGroup("/api");
        data.MapGet("/fleet", FleetApi.ListAsync);
        data.MapGet("/usage", AdminApi.AllUsageAsync);
        data.MapGet("/budgets", AdminApi.AllBudgetsAsync);
        data.MapGet("/experiments", LifecycleApi.ListAsync);
        data.MapGet("/keys", AdminApi.ListKeysAsync);
        data.MapGet("/jobs", (IGrainFactory grains, ClusterCalls calls) => calls.RunAsync(_ => grains.GetGrain<ISagaIndexGrain>(0).ListAsync(null, 200)));
        data.MapGet("/antiforgery", (HttpContext http, IAntiforgery antiforgery) =>
        {
            var tokens = antiforgery.GetAndStoreTokens(http);
            return TypedResults.Ok(new { headerName = tokens.HeaderName, token = tokens.RequestToken });
        });

        // Changes made with the session cookie must come from a console page: they carry its antiforgery token.
        var changes = data.MapGroup("").AddEndpointFilter(async (context, next) =>
            await context.HttpContext.RequestServices.GetRequiredService<IAntiforgery>().IsRequestValidAsync(context.HttpContext)
                ? await next(context)
                : Results.Problem("the request lacks the console's antiforgery token; reload the page", statusCode: StatusCodes.Status400BadRequest, title: "Missing antiforgery token"));
        changes.MapPost("/experiments", LifecycleApi.StartAsync);
        changes.MapPost("/experiments/{id}/{action}", LifecycleApi.ActAsync);
        changes.MapPost("/keys", AdminApi.CreateKeyAsync);
        changes.MapPost("/keys/{id}/revoke", AdminApi.RevokeKeyAsync);
        changes.MapPost("/budgets/{user}", AdminApi.SetBudgetAsync);
        changes.MapPost("/jobs/{id}/cancel", async (string id, IGrainFactory grains, ClusterCalls calls) =>
            CoursesApi.IsSagaId(id) && await calls.RunAsync(_ => grains.GetGrain<ICourseGenerationGrain>(id).CancelAsync()) is { } status
                ? Results.Ok(status)
                : Results.Problem($"no course job has id '{id}'", statusCode: StatusCodes.Status404NotFound, title: "Job not found"));
        return app;
    }

    /// <summary>Every console page's HTML (for the content security policy's script hashes).</summary>
    public static IEnumerable<string> Pages() =>
        Files.Where(f => f.Key.EndsWith(".html", StringComparison.Ordinal)).Select(f => System.Text.Encoding.UTF8.GetString(f.Value.Bytes.Value));

    private static IResult Serve(string name) => TypedResults.Bytes(Files[name].Bytes.Value, Files[name].ContentType);

    private static byte[] Embedded(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"Orleans.AiFleet.ClientApi.Console.{name}")
            ?? throw new InvalidOperationException($"the console page {name} is not embedded in client-api");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
