using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using Orleans.AiFleet.ClientApi.Apis;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Cluster;
using Orleans.AiFleet.ClientApi.Hosting;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grpc.Inference;

namespace Orleans.AiFleet.ClientApi.Grpc;

/// <summary>
/// KServe v2 over gRPC (<c>GRPCInferenceService</c>, Protos/open_inference_grpc.proto), on its own plaintext HTTP/2
/// port: the same keys (bearer in metadata), the same one call into the cluster per request, the same budgets and
/// errors as the HTTP routes, failures as gRPC status codes (<see cref="GrpcFailures"/>).
/// </summary>
[Authorize]
internal sealed class KServeGrpcService(ModelCatalog catalog, ClusterCalls calls, ModelReadinessService readiness) : GRPCInferenceService.GRPCInferenceServiceBase
{
    [AllowAnonymous]
    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerLiveResponse { Live = true });

    [AllowAnonymous]
    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerReadyResponse { Ready = readiness.IsReady });

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerMetadataResponse { Name = KServeApi.ServerName, Version = KServeApi.ServerVersion, Extensions = { "model_repository" } });

    public override async Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context)
    {
        var (model, version) = await FindAsync(request.Name, request.Version);
        var reply = new ModelMetadataResponse { Name = model.Name, Platform = model.Platform };
        reply.Versions.AddRange(version is null ? model.Versions : [version]);
        reply.Inputs.AddRange(model.Inputs.Select(Spec));
        reply.Outputs.AddRange(model.Outputs.Select(Spec));
        return reply;
    }

    public override async Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context)
    {
        var (model, version) = await FindAsync(request.Name, request.Version);
        var wanted = version ?? model.DefaultVersion;
        var state = (await catalog.ReadinessAsync()).FirstOrDefault(r => r.Model == model.Name && r.Version == wanted);
        return new ModelReadyResponse { Ready = state?.Ready == true };
    }

    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        var (model, version) = await FindAsync(request.ModelName, request.ModelVersion);
        if (!GrpcTensors.TryRead(request, out var inputs, out var error))
        {
            throw AiFleetException.Invalid(error!, "inputs");
        }

        var caller = context.GetHttpContext().User;
        var outputs = request.Outputs.Count == 0 ? null : request.Outputs.Select(o => o.Name).ToArray();
        var id = string.IsNullOrEmpty(request.Id) ? null : request.Id;
        if (!InputBounds.IsClientId(id))
        {
            throw AiFleetException.Invalid(InputBounds.ClientIdRule, "id");
        }

        caller.CheckMayUse(model.Name);
        var call = new InferenceRequest(model.Name, version, inputs, outputs, id, caller.UserId(), caller.UserTier(), AskedPriority(request), caller.ChargedTeam());
        var response = await calls.RunAsync(token => catalog.Router.InferAsync(call, token), context.CancellationToken);
        // Sent with the answer's HEADERS frame; WriteResponseHeadersAsync would flush a frame of its own per call.
        var headers = context.GetHttpContext().Response.Headers;
        headers[KServeApi.ModelHeader] = $"{response.Model}/{response.Version}";
        headers[KServeApi.RequestIdHeader] = response.RequestId ?? ""; // the server's own id, never client text
        return GrpcTensors.Write(response, id, raw: request.RawInputContents.Count > 0);
    }

    /// <summary>The lane asked for in the request's <c>priority</c> parameter (a string: low, normal or high).</summary>
    private static Priority? AskedPriority(ModelInferRequest request)
    {
        if (!request.Parameters.TryGetValue("priority", out var asked))
        {
            return null;
        }

        return asked.ParameterChoiceCase == InferParameter.ParameterChoiceOneofCase.StringParam && Priorities.TryParse(asked.StringParam, out var lane)
            ? lane
            : throw AiFleetException.Invalid($"the 'priority' parameter must be a string: one of {Priorities.List}", "parameters");
    }

    [Authorize(Policy = ApiKeyAuthenticationHandler.AdminPolicy)]
    public override async Task<RepositoryIndexResponse> RepositoryIndex(RepositoryIndexRequest request, ServerCallContext context)
    {
        var reply = new RepositoryIndexResponse();
        foreach (var r in await calls.RunAsync(_ => catalog.Registry.IndexAsync()))
        {
            if (!request.Ready || r.Ready)
            {
                reply.Models.Add(new RepositoryIndexResponse.Types.ModelIndex
                {
                    Name = r.Model,
                    Version = r.Version,
                    State = r.Ready ? "READY" : "UNAVAILABLE",
                    Reason = r.Ready ? "" : r.Error ?? $"{r.ReadyReplicas} of {r.Replicas} replicas ready",
                });
            }
        }

        return reply;
    }

    [Authorize(Policy = ApiKeyAuthenticationHandler.AdminPolicy)]
    public override async Task<RepositoryModelLoadResponse> RepositoryModelLoad(RepositoryModelLoadRequest request, ServerCallContext context)
    {
        var (model, _) = await FindAsync(request.ModelName, "");
        await calls.RunAsync(_ => catalog.Registry.LoadModelAsync(model.Name));
        return new RepositoryModelLoadResponse();
    }

    [Authorize(Policy = ApiKeyAuthenticationHandler.AdminPolicy)]
    public override async Task<RepositoryModelUnloadResponse> RepositoryModelUnload(RepositoryModelUnloadRequest request, ServerCallContext context)
    {
        var (model, _) = await FindAsync(request.ModelName, "");
        await calls.RunAsync(async _ =>
        {
            await catalog.Registry.UnloadModelAsync(model.Name);
            return true;
        });
        return new RepositoryModelUnloadResponse();
    }

    /// <summary>The model and the version asked for (proto3's empty string: not named).</summary>
    private ValueTask<(GrainInterfaces.Models.ModelDescriptor Model, string? Version)> FindAsync(string name, string version) =>
        catalog.ResolveAsync(name, version.Length > 0 ? version : null);

    private static ModelMetadataResponse.Types.TensorMetadata Spec(GrainInterfaces.Models.TensorSpec t)
    {
        var spec = new ModelMetadataResponse.Types.TensorMetadata { Name = t.Name, Datatype = t.DataType.ToProtocolName() };
        spec.Shape.AddRange(t.Shape);
        return spec;
    }
}
