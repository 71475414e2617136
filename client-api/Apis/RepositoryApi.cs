using Orleans.AiFleet.ClientApi.Cluster;
using Microsoft.AspNetCore.Mvc;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Inference;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// The KServe v2 model repository extension, admin only: <c>POST /v2/repository/index</c> lists every model version
/// with its state (READY or UNAVAILABLE) and why; <c>POST /v2/repository/models/{m}/load</c> and <c>/unload</c> load
/// and unload all of a model's versions through its fleet (warmed before routing; drained, then unloaded, sessions
/// freed). An unloaded version answers 503 until it is loaded again, across restarts.
/// </summary>
internal static class RepositoryApi
{
    public static IEndpointRouteBuilder MapRepositoryApi(this IEndpointRouteBuilder app)
    {
        var repository = app.MapGroup("/v2/repository").WithTags("KServe v2 repository")
            .RequireAuthorization(ApiKeyAuthenticationHandler.AdminPolicy).SpeaksErrors(ErrorProtocol.KServe);
        repository.MapPost("/index", IndexAsync);
        repository.MapPost("/models/{model}/load", LoadAsync);
        repository.MapPost("/models/{model}/unload", UnloadAsync);
        return app;
    }

    /// <summary>The index request: <c>ready: true</c> lists only the versions ready to serve.</summary>
    public sealed record IndexBody(bool? Ready);

    public sealed record IndexEntry(string Name, string Version, string State, string Reason);

    private static async Task<IResult> IndexAsync([FromBody(EmptyBodyBehavior = Microsoft.AspNetCore.Mvc.ModelBinding.EmptyBodyBehavior.Allow)] IndexBody? body, ModelCatalog catalog, ClusterCalls calls)
    {
        var index = await calls.RunAsync(_ => catalog.Registry.IndexAsync());
        return TypedResults.Ok(index
            .Where(r => body?.Ready is not true || r.Ready)
            .Select(r => new IndexEntry(r.Model, r.Version, r.Ready ? "READY" : "UNAVAILABLE", r.Ready ? "" : r.Error ?? $"{r.ReadyReplicas} of {r.Replicas} replicas ready"))
            .ToArray());
    }

    private static async Task<IResult> LoadAsync(string model, ModelCatalog catalog, ClusterCalls calls)
    {
        if (await catalog.FindAsync(model) is null)
        {
            return KServeErrors.NotFound($"model '{model}' is not in the repository");
        }

        var loaded = await calls.RunAsync(_ => catalog.Registry.LoadModelAsync(model));
        return TypedResults.Ok(new { name = model, versions = loaded.Select(r => new { version = r.Version, ready = r.Ready, replicas = r.ReadyReplicas }) });
    }

    private static async Task<IResult> UnloadAsync(string model, ModelCatalog catalog, ClusterCalls calls)
    {
        if (await catalog.FindAsync(model) is null)
        {
            return KServeErrors.NotFound($"model '{model}' is not in the repository");
        }

        await calls.RunAsync(async _ =>
        {
            await catalog.Registry.UnloadModelAsync(model);
            return true;
        });
        return TypedResults.Ok(new { name = model, state = "UNAVAILABLE", reason = "unloaded" });
    }
}
