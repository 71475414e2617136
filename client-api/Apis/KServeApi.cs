using Orleans.AiFleet.ClientApi.Cluster;
using System.IO.Pipelines;
using System.Security.Claims;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Hosting;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>KServe v2 / Open Inference Protocol over HTTP+JSON under <c>/v2</c>.</summary>
internal static class KServeApi
{
    public const string ServerName = "orleans-aifleet";
    public const string ServerVersion = "0.1.0";
    public const string ModelHeader = "x-aifleet-model";
    public const string RequestIdHeader = "x-aifleet-request-id";

    public static IEndpointRouteBuilder MapKServeApi(this IEndpointRouteBuilder app)
    {
        var v2 = app.MapGroup("/v2").WithTags("KServe v2").SpeaksErrors(ErrorProtocol.KServe).LimitBody(BodyLimit.Tensors);
        v2.MapGet("", ServerMetadata);
        v2.MapGet("/health/live", () => TypedResults.Ok(new { live = true })).AllowAnonymous();
        v2.MapGet("/health/ready", ServerReady).AllowAnonymous();
        v2.MapGet("/models/{model}", ModelMetadataAsync);
        v2.MapGet("/models/{model}/versions/{version}", ModelMetadataAsync);
        v2.MapGet("/models/{model}/ready", ModelReadyAsync);
        v2.MapGet("/models/{model}/versions/{version}/ready", ModelReadyAsync);
        v2.MapPost("/models/{model}/infer", InferAsync);
        v2.MapPost("/models/{model}/versions/{version}/infer", InferAsync);
        return app;
    }

    private static IResult ServerMetadata() =>
        TypedResults.Ok(new { name = ServerName, version = ServerVersion, extensions = Array.Empty<string>() });

    // KServe: 200 means ready, a 4xx means not ready.
    private static IResult ServerReady(ModelReadinessService readiness) => readiness.IsReady
        ? TypedResults.Ok(new { ready = true })
        : KServeErrors.Error(StatusCodes.Status400BadRequest, "the server is not ready: models are still warming up");

    private static async Task<IResult> ModelMetadataAsync(string model, string? version, ModelCatalog catalog)
    {
        var descriptor = await catalog.FindAsync(model);
        if (descriptor is null)
        {
            return KServeErrors.NotFound($"model '{model}' is not in the repository");
        }

        return version is not null && !descriptor.Versions.Contains(version)
            ? KServeErrors.NotFound($"model '{model}' has no version '{version}' (it has {string.Join(", ", descriptor.Versions)})")
            : TypedResults.Ok(KServeJsonWriter.Metadata(descriptor, version));
    }

    private static async Task<IResult> ModelReadyAsync(string model, string? version, ModelCatalog catalog)
    {
        var descriptor = await catalog.FindAsync(model);
        if (descriptor is null)
        {
            return KServeErrors.NotFound($"model '{model}' is not in the repository");
        }

        var wanted = version ?? descriptor.DefaultVersion;
        var readiness = (await catalog.ReadinessAsync()).FirstOrDefault(r => r.Model == model && r.Version == wanted);
        if (readiness is null)
        {
            return KServeErrors.NotFound($"model '{model}' has no version '{wanted}'");
        }

        return readiness.Ready
            ? TypedResults.Ok(new { name = model, version = wanted, ready = true })
            : KServeErrors.Error(StatusCodes.Status400BadRequest,
                $"model '{model}' version {wanted} is not ready: {readiness.Error ?? $"{readiness.ReadyReplicas} of {readiness.Replicas} replicas warmed up"}");
    }

    private static async Task<IResult> InferAsync(
        HttpContext http, string model, string? version, ClaimsPrincipal caller, ModelCatalog catalog, ClusterCalls calls)
    {
        var ct = http.RequestAborted;
        await catalog.ResolveAsync(model, version); // 400 or 404, in this route's error shape, before the body is read

        var bodyReader = http.Request.BodyReader;
        ReadResult read;
        try
        {
            while (true)
            {
                read = await bodyReader.ReadAsync(ct);
                if (read.IsCompleted || read.IsCanceled)
                {
                    break;
                }

                bodyReader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return TypedResults.Empty;
        }

        InferenceRequest? request;
        KServeJson.BinaryOutputs? binary = null;
        string? error;
        try
        {
            // The binary extension: the header says how much of the body is JSON; the rest is raw tensor bytes.
            var json = read.Buffer;
            var rest = System.Buffers.ReadOnlySequence<byte>.Empty;
            error = null;
            if (http.Request.Headers[KServeJson.HeaderLengthHeader] is { Count: > 0 } header)
            {
                if (!long.TryParse(header.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var length)
                    || length < 1 || length > json.Length)
                {
                    error = $"'{KServeJson.HeaderLengthHeader}' must be the length of the body's JSON part: 1 to {json.Length} (was '{header}')";
                }
                else
                {
                    (json, rest) = (json.Slice(0, length), json.Slice(length));
                }
            }

            request = null;
            if (error is null)
            {
                KServeJson.TryReadInferRequest(json, rest, model, version, out request, out binary, out error);
            }
        }
        finally
        {
            bodyReader.AdvanceTo(read.Buffer.End);
        }

        if (request is null)
        {
            return KServeErrors.Invalid(error!);
        }

        caller.CheckMayUse(request.Model);
        request = request with { User = caller.UserId(), UserTier = caller.UserTier(), Team = caller.ChargedTeam() }; // charged to the key's user, within their tier

        InferenceResponse response;
        try
        {
            response = await calls.RunAsync(token => catalog.Router.InferAsync(request, token), ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return TypedResults.Empty;
        }

        http.Response.Headers[ModelHeader] = $"{response.Model}/{response.Version}"; // the version that answered (the split's pick)
        if (response.RequestId is not null)
        {
            http.Response.Headers[RequestIdHeader] = response.RequestId; // the server's own id, what POST /v1/feedback judges; never client text
        }

        await KServeJsonWriter.WriteInferResponseAsync(http.Response, response, ct, binary);
        return TypedResults.Empty;
    }
}
