using Orleans.AiFleet.ClientApi.Cluster;
using Microsoft.AspNetCore.Http.HttpResults;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Fleet;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>Fleet inspection: each model's versions, replicas in rotation, their load, and recent scaling decisions.</summary>
internal static class FleetApi
{
    public static IEndpointRouteBuilder MapFleetApi(this IEndpointRouteBuilder app)
    {
        var fleet = app.MapGroup("/v1/fleet").WithTags("Fleet").RequireAuthorization(Auth.ApiKeyAuthenticationHandler.AdminPolicy);
        fleet.MapGet("", ListAsync);
        fleet.MapGet("/{model}", GetAsync);
        return app;
    }

    internal static async Task<Ok<FleetStatus[]>> ListAsync(ModelCatalog catalog, ClusterCalls calls, IGrainFactory grains)
    {
        var models = await catalog.ListAsync();
        return TypedResults.Ok(await Task.WhenAll(models.Select(m => calls.RunAsync(_ => grains.GetGrain<IModelFleetGrain>(m.Name).GetStatusAsync()))));
    }

    private static async Task<Results<Ok<FleetStatus>, ProblemHttpResult>> GetAsync(string model, ModelCatalog catalog, ClusterCalls calls, IGrainFactory grains) =>
        await catalog.FindAsync(model) is null
            ? TypedResults.Problem($"model '{model}' is not in the repository", statusCode: StatusCodes.Status404NotFound, title: "Model not found")
            : TypedResults.Ok(await calls.RunAsync(_ => grains.GetGrain<IModelFleetGrain>(model).GetStatusAsync()));
}
