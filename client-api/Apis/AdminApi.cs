using Orleans.AiFleet.ClientApi.Cluster;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Auth;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.GrainInterfaces.Fleet;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// Keys and budgets: admins issue and revoke keys, set any user's limits and read everyone's usage
/// (<c>/v1/admin/...</c>); every key holder reads their own budget and usage (<c>/v1/budget</c>, <c>/v1/usage</c>).
/// Usage is spend, tokens and requests by UTC day and model, summed from the ledger.
/// </summary>
internal static class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/v1/admin").WithTags("Admin").RequireAuthorization(ApiKeyAuthenticationHandler.AdminPolicy);
        admin.MapPost("/keys", CreateKeyAsync);
        admin.MapGet("/keys", ListKeysAsync);
        admin.MapDelete("/keys/{id}", RevokeKeyAsync);
        admin.MapPut("/budgets/{user}", SetBudgetAsync);
        admin.MapGet("/budgets/{user}", GetBudgetAsync);
        admin.MapGet("/usage", AllUsageAsync);
        admin.MapPut("/models/{model}/versions/{version}/faults", SetFaultsAsync);
        admin.MapDelete("/models/{model}/versions/{version}/faults", ClearFaultsAsync);

        var own = app.MapGroup("/v1").WithTags("Usage");
        own.MapGet("/budget", OwnBudgetAsync);
        own.MapGet("/usage", OwnUsageAsync);
        return app;
    }

    public sealed record CreateKeyRequest(string? User, string? Role, string? Name, string? Tier = null);

    public sealed record KeyView(string Id, string User, string Role, string Name, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt, string? Key = null, string? Tier = null);

    public sealed record UsageReport(string User, DateOnly From, DateOnly To, decimal TotalSpend, long TotalTokens, long TotalRequests, IReadOnlyList<UsageRow> Rows);

    internal static async Task<Results<Created<KeyView>, ProblemHttpResult>> CreateKeyAsync(CreateKeyRequest body, IGrainFactory grains, ClusterCalls calls)
    {
        // Not re-sent if the gateway drops mid-call: a second send would create a second key.
        var created = await calls.RunOnceAsync(() => Directory(grains).CreateAsync(body.User ?? "", body.Role ?? Roles.User, body.Name ?? "", body.Tier));
        return TypedResults.Created($"/v1/admin/keys/{created.Info.Id}", View(created.Info) with { Key = created.Key });
    }

    internal static async Task<Ok<KeyView[]>> ListKeysAsync(IGrainFactory grains, ClusterCalls calls) =>
        TypedResults.Ok((await calls.RunAsync(_ => Directory(grains).ListAsync())).Select(View).ToArray());

    internal static async Task<Results<NoContent, ProblemHttpResult>> RevokeKeyAsync(string id, IGrainFactory grains, ClusterCalls calls) =>
        await calls.RunAsync(_ => Directory(grains).RevokeAsync(id))
            ? TypedResults.NoContent()
            : TypedResults.Problem($"no key has id '{id}'", statusCode: StatusCodes.Status404NotFound, title: "Key not found");

    internal static async Task<Results<Ok<BudgetStatus>, ProblemHttpResult>> SetBudgetAsync(string user, BudgetLimits limits, IGrainFactory grains, ClusterCalls calls)
    {
        CheckUser(user);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(user).SetLimitsAsync(limits)));
    }

    private static async Task<Ok<BudgetStatus>> GetBudgetAsync(string user, IGrainFactory grains, ClusterCalls calls)
    {
        CheckUser(user);
        return TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(user).GetStatusAsync()));
    }

    /// <summary>A user named in a path: bounded like every name, so no grain is made for a megabyte of text.</summary>
    private static void CheckUser(string user)
    {
        if (!InputBounds.IsKey(user))
        {
            throw AiFleetException.Invalid($"'user' must be 1 to {InputBounds.MaxNameLength} printable characters", "user");
        }
    }

    internal static async Task<Ok<BudgetStatus>> OwnBudgetAsync(ClaimsPrincipal caller, IGrainFactory grains, ClusterCalls calls) =>
        TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(caller.UserId()).GetStatusAsync()));

    internal static async Task<Results<Ok<UsageReport>, ProblemHttpResult>> OwnUsageAsync(
        ClaimsPrincipal caller, DateOnly? from, DateOnly? to, IGrainFactory grains, ClusterCalls calls, TimeProvider time) =>
        Range(from, to, time, out var start, out var end) is { } problem
            ? problem
            : TypedResults.Ok(await UsageOfAsync(caller.UserId(), start, end, grains, calls));

    /// <summary>Every user who holds a key, and the bootstrap admin, in order.</summary>
    private static async Task<IEnumerable<string>> KeyHoldersAsync(IGrainFactory grains, ClusterCalls calls) =>
        (await calls.RunAsync(_ => Directory(grains).ListAsync())).Select(k => k.User).Append(ApiKeyValidator.BootstrapUser)
            .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);

    /// <summary>
    /// Every key holder's budget: caps, spend today and this month, and what is held by open holds. A budget that
    /// cannot be read now (its store is down) is left out rather than failing the whole list.
    /// </summary>
    internal static async Task<Ok<BudgetStatus[]>> AllBudgetsAsync(IGrainFactory grains, ClusterCalls calls)
    {
        var users = await KeyHoldersAsync(grains, calls);
        async Task<BudgetStatus?> StatusOrNothingAsync(string user)
        {
            try
            {
                return await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(user).GetStatusAsync());
            }
            catch (Exception e) when (e is AiFleetException or OrleansException or TimeoutException)
            {
                return null;
            }
        }

        return TypedResults.Ok((await Task.WhenAll(users.Select(StatusOrNothingAsync))).OfType<BudgetStatus>().ToArray());
    }

    internal static async Task<Results<Ok<UsageReport[]>, ProblemHttpResult>> AllUsageAsync(
        DateOnly? from, DateOnly? to, IGrainFactory grains, ClusterCalls calls, TimeProvider time)
    {
        if (Range(from, to, time, out var start, out var end) is { } problem)
        {
            return problem;
        }

        var users = await KeyHoldersAsync(grains, calls);
        return TypedResults.Ok(await Task.WhenAll(users.Select(u => UsageOfAsync(u, start, end, grains, calls))));
    }

    private static async Task<UsageReport> UsageOfAsync(string user, DateOnly from, DateOnly to, IGrainFactory grains, ClusterCalls calls)
    {
        var rows = await calls.RunAsync(_ => grains.GetGrain<IUserBudgetGrain>(user).GetUsageAsync(from, to));
        return new UsageReport(user, from, to, rows.Sum(r => r.Spend), rows.Sum(r => r.Tokens), rows.Sum(r => r.Requests), rows);
    }

    /// <summary>from/to as yyyy-MM-dd (UTC days, inclusive); by default this month so far; at most 367 days.</summary>
    private static ProblemHttpResult? Range(DateOnly? from, DateOnly? to, TimeProvider time, out DateOnly start, out DateOnly end)
    {
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        end = to ?? today;
        start = from ?? new DateOnly(end.Year, end.Month, 1);
        if (start > end)
        {
            return BadRequest($"'from' ({start:yyyy-MM-dd}) is after 'to' ({end:yyyy-MM-dd})");
        }

        return end.DayNumber - start.DayNumber > 366 ? BadRequest("a usage range spans at most 367 days") : null;
    }

    private static ProblemHttpResult BadRequest(string message) =>
        TypedResults.Problem(message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid request");

    /// <summary>Injects faults into a model version (staging rehearsals, tests): an error rate and extra latency.</summary>
    private static async Task<Results<Ok<VersionFaults>, ProblemHttpResult>> SetFaultsAsync(
        string model, string version, VersionFaults faults, ModelCatalog catalog, IGrainFactory grains, ClusterCalls calls)
    {
        if (await NoSuchVersionAsync(model, version, catalog) is { } missing)
        {
            return missing;
        }

        await calls.RunAsync(async _ => { await grains.GetGrain<IModelFleetGrain>(model).SetFaultsAsync(version, faults); return true; });
        return TypedResults.Ok(faults);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> ClearFaultsAsync(
        string model, string version, ModelCatalog catalog, IGrainFactory grains, ClusterCalls calls)
    {
        if (await NoSuchVersionAsync(model, version, catalog) is { } missing)
        {
            return missing;
        }

        await calls.RunAsync(async _ => { await grains.GetGrain<IModelFleetGrain>(model).SetFaultsAsync(version, null); return true; });
        return TypedResults.NoContent();
    }

    private static async Task<ProblemHttpResult?> NoSuchVersionAsync(string model, string version, ModelCatalog catalog) =>
        await catalog.FindAsync(model) is { } descriptor && descriptor.Versions.Contains(version)
            ? null
            : TypedResults.Problem($"model '{model}' has no version '{version}'", statusCode: StatusCodes.Status404NotFound, title: "Not found");

    private static IApiKeyDirectoryGrain Directory(IGrainFactory grains) => grains.GetGrain<IApiKeyDirectoryGrain>(IApiKeyDirectoryGrain.DefaultKey);

    private static KeyView View(ApiKeyInfo i) => new(i.Id, i.User, i.Role, i.Name, i.CreatedAt, i.RevokedAt, Tier: i.Tier);
}
