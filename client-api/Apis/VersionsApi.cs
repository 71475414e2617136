using Orleans.AiFleet.ClientApi.Cluster;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// New model versions at run time (admin): <c>PUT /v1/admin/models/{m}/versions/{v}</c> takes a multipart form with
/// the ONNX file (<c>model</c>), optional config overrides (<c>config</c>, JSON) and an optional reference profile
/// (<c>profile</c>, JSON). The file is streamed to disk while its SHA-256 is taken, put in the store every silo loads
/// from, then checked against the model's declared inputs and outputs by the registry (refused and removed when it
/// does not fit) and warmed. <c>DELETE</c> removes an uploaded version that takes no traffic.
/// </summary>
internal static class VersionsApi
{
    public const int MaxJsonPart = 4 * 1024 * 1024;

    public static IEndpointRouteBuilder MapVersionsApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/v1/admin/models").WithTags("Lifecycle").RequireAuthorization(ApiKeyAuthenticationHandler.AdminPolicy);
        admin.MapPut("/{model}/versions/{version}", UploadAsync).LimitBody(BodyLimit.ModelFile);
        admin.MapDelete("/{model}/versions/{version}", DeleteAsync);
        return app;
    }

    private static async Task<IResult> UploadAsync(
        HttpContext http, string model, string version, ModelCatalog catalog, IModelStore store, ClusterCalls calls, TimeProvider time)
    {
        var descriptor = await catalog.FindAsync(model) is { Catalog.Provider: null } found
            ? found
            : throw AiFleetException.ModelNotFound($"model '{model}' is not a local model of the repository");
        if (version.Length > 9 || !long.TryParse(version, out var number) || number <= 0 || version != number.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw AiFleetException.Invalid("a version is a positive whole number, as the repository's folders are (1, 2, ...)", "version");
        }

        if (descriptor.Versions.Contains(version))
        {
            throw AiFleetException.Conflict($"model '{model}' already has version {version}; versions are immutable: upload a new one, or delete this one first", "version");
        }

        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var media) || HeaderUtilities.RemoveQuotes(media.Boundary).Value is not { Length: > 0 and <= 200 } boundary)
        {
            throw AiFleetException.Invalid("send a multipart/form-data body with the ONNX file as 'model' (and optional 'config' and 'profile' JSON)", "model");
        }

        var file = Path.Combine(Path.GetTempPath(), $"aifleet-upload-{Guid.NewGuid():N}.onnx");
        try
        {
            var (sha256, bytes, config, profile) = await ReadFormAsync(new MultipartReader(boundary, http.Request.Body), file, http.RequestAborted);
            if (bytes == 0)
            {
                throw AiFleetException.Invalid("the form has no 'model' part (the ONNX file)", "model");
            }

            await store.SaveAsync(new StoredVersion(model, version, sha256, bytes, config, profile, time.GetUtcNow()), file, http.RequestAborted);
            var readiness = await calls.RunOnceAsync(() => catalog.Registry.AddVersionAsync(model, version));
            catalog.Forget(model);
            return TypedResults.Created($"/v2/models/{model}/versions/{version}", new
            {
                model, version, sha256, bytes, ready = readiness.Ready, replicas = readiness.ReadyReplicas,
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Streams the parts: the ONNX file to <paramref name="file"/> (hashed as it goes), the JSON parts into bounded strings.</summary>
    private static async Task<(string Sha256, long Bytes, string? Config, string? Profile)> ReadFormAsync(
        MultipartReader reader, string file, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long bytes = 0;
        string? config = null, profile = null;
        while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
        {
            var name = ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                ? HeaderUtilities.RemoveQuotes(disposition.Name).Value
                : null;
            switch (name)
            {
                case "model":
                    await using (var output = File.Create(file))
                    {
                        var buffer = new byte[81920];
                        int read;
                        while ((read = await section.Body.ReadAsync(buffer, cancellationToken)) > 0)
                        {
                            hash.AppendData(buffer, 0, read);
                            await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                            bytes += read;
                        }
                    }

                    break;
                case "config":
                    config = await ReadTextAsync(section.Body, "config", cancellationToken);
                    break;
                case "profile":
                    profile = await ReadTextAsync(section.Body, "profile", cancellationToken);
                    break;
                default:
                    throw AiFleetException.Invalid($"unknown form part '{name}'; the parts are 'model', 'config' and 'profile'", name);
            }
        }

        return (Convert.ToHexStringLower(hash.GetHashAndReset()), bytes, config, profile);
    }

    private static async Task<string> ReadTextAsync(Stream body, string field, CancellationToken cancellationToken)
    {
        using var text = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if (text.Length + read > MaxJsonPart)
            {
                throw AiFleetException.TooLarge($"'{field}' is larger than {MaxJsonPart} bytes", field);
            }

            text.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(text.GetBuffer(), 0, (int)text.Length);
    }

    private static async Task<IResult> DeleteAsync(string model, string version, ModelCatalog catalog, ClusterCalls calls)
    {
        if (await catalog.FindAsync(model) is not { Catalog.Provider: null })
        {
            throw AiFleetException.ModelNotFound($"model '{model}' is not a local model of the repository");
        }

        await calls.RunAsync(async _ => { await catalog.Registry.DeleteVersionAsync(model, version); return true; });
        catalog.Forget(model);
        return TypedResults.NoContent();
    }
}
