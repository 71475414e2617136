using Microsoft.AspNetCore.Http.Features;

namespace Orleans.AiFleet.ClientApi.Failures;

/// <summary>
/// The most bytes a route reads from a request body. Kestrel stops a body at the limit (at once when Content-Length
/// says more), the read throws, and the failure handler answers 413 in the route's protocol, so nothing is allocated
/// for what is over the bound. Routes without their own bound get <see cref="Default"/>.
/// </summary>
internal sealed record BodyLimit(long Bytes)
{
    /// <summary>Small JSON bodies: admin, budgets, keys, sign-in.</summary>
    public const long Default = 64 * 1024;

    /// <summary>KServe tensors in JSON.</summary>
    public const long Tensors = 8 * 1024 * 1024;

    /// <summary>A model version's ONNX file, uploaded by an admin (streamed to disk, never held in memory by client-api).</summary>
    public const long ModelFile = 256L * 1024 * 1024;

    /// <summary>OpenAI chat and embeddings bodies (a long-context prompt runs to megabytes).</summary>
    public const long OpenAi = 4 * 1024 * 1024;
}

internal static class BodyLimits
{
    /// <summary>Bounds the bodies of a route or group at <paramref name="bytes"/>.</summary>
    public static TBuilder LimitBody<TBuilder>(this TBuilder builder, long bytes)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new BodyLimit(bytes));

    /// <summary>
    /// After routing: applies the matched endpoint's bound (or the default) to this request's body; a body whose
    /// Content-Length already says more is refused before a byte of it is read. Binding failures that ASP.NET Core
    /// answers by itself with an empty 4xx (a body cut off at its bound mid-stream, say) get the route's error shape.
    /// </summary>
    public static IApplicationBuilder UseBodyLimits(this IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        var limit = http.GetEndpoint()?.Metadata.GetMetadata<BodyLimit>()?.Bytes ?? BodyLimit.Default;
        if (http.Request.ContentLength > limit)
        {
            await FailureRenderer.WriteAsync(http, AiFleetException.TooLarge(
                $"the request body is larger than this route accepts ({limit} bytes)"));
            return;
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = limit;
        }

        await next(http);
        if (!http.Response.HasStarted && http.Response.StatusCode is >= 400 and < 500 and not 401 and not 403 && http.Response.ContentLength is null)
        {
            await FailureRenderer.WriteAsync(http, http.Response.StatusCode switch
            {
                StatusCodes.Status413PayloadTooLarge => AiFleetException.TooLarge($"the request body is larger than this route accepts ({limit} bytes)"),
                StatusCodes.Status404NotFound => AiFleetException.NotFound($"no route {http.Request.Method} {http.Request.Path}"),
                StatusCodes.Status405MethodNotAllowed => AiFleetException.NotFound($"no route {http.Request.Method} {http.Request.Path}"),
                _ => AiFleetException.Invalid("the request could not be read: send a JSON body with Content-Type: application/json"),
            });
        }
    });
}
