using Microsoft.AspNetCore.Diagnostics;

namespace Orleans.AiFleet.ClientApi.Failures;

/// <summary>The error shape a route group speaks: KServe's <c>{"error"}</c>, OpenAI's <c>{"error":{...}}</c>, or ProblemDetails.</summary>
internal enum ErrorProtocol
{
    ProblemDetails,
    KServe,
    OpenAi,

    /// <summary>A gRPC call (content type <c>application/grpc</c>): a status in headers, never an HTTP error body.</summary>
    Grpc,
}

/// <summary>Endpoint metadata naming the route group's <see cref="ErrorProtocol"/>.</summary>
internal sealed record ErrorProtocolMetadata(ErrorProtocol Protocol);

internal static class ErrorProtocols
{
    private static readonly string[] OpenAiPrefixes = ["/v1/models", "/v1/chat", "/v1/embeddings", "/v1/completions"];

    /// <summary>Marks every endpoint of a group with the error shape its protocol uses.</summary>
    public static TBuilder SpeaksErrors<TBuilder>(this TBuilder builder, ErrorProtocol protocol)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ErrorProtocolMetadata(protocol));

    /// <summary>The matched endpoint's protocol; for a request that matched none (an unknown route), its path decides.</summary>
    public static ErrorProtocol Of(HttpContext http)
    {
        if (http.Request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase))
        {
            return ErrorProtocol.Grpc; // whatever the route: a gRPC client reads only gRPC statuses
        }

        // The exception handler clears the endpoint before handlers run; its feature keeps the one that failed.
        var endpoint = http.GetEndpoint() ?? http.Features.Get<IExceptionHandlerFeature>()?.Endpoint;
        if (endpoint?.Metadata.GetMetadata<ErrorProtocolMetadata>() is { } declared)
        {
            return declared.Protocol;
        }

        var path = http.Request.Path;
        if (path.StartsWithSegments("/v2"))
        {
            return ErrorProtocol.KServe;
        }

        return Array.Exists(OpenAiPrefixes, p => path.StartsWithSegments(p)) ? ErrorProtocol.OpenAi : ErrorProtocol.ProblemDetails;
    }
}
