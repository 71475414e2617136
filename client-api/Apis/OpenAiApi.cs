using Orleans.AiFleet.ClientApi.Cluster;
using System.Runtime.InteropServices;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using Orleans.AiFleet.ClientApi.Auth;
using Orleans.AiFleet.ClientApi.Failures;
using Orleans.AiFleet.ClientApi.Inference;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.GrainInterfaces.Models;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// The OpenAI-compatible surface, so OpenAI's SDKs work unchanged: <c>GET /v1/models</c>, <c>GET /v1/models/{id}</c>,
/// and <c>POST /v1/embeddings</c> (texts or token ids, <c>encoding_format</c> float or base64), charged to the key's
/// user. Errors use OpenAI's shape and codes.
/// </summary>
internal static class OpenAiApi
{
    /// <summary>The request header that names the version to use, bypassing the traffic policy.</summary>
    public const string VersionHeader = "x-aifleet-version";

    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("OpenAI").SpeaksErrors(ErrorProtocol.OpenAi).LimitBody(BodyLimit.OpenAi);
        v1.MapGet("/models", ListModelsAsync);
        v1.MapGet("/models/{id}", GetModelAsync);
        v1.MapPost("/embeddings", EmbeddingsAsync);
        return app;
    }

    /// <summary>OpenAI's model object, plus the catalogue's entry (SDKs ignore fields they do not know).</summary>
    public sealed record ModelObject(
        string Id,
        string Object,
        long Created,
        [property: JsonPropertyName("owned_by")] string OwnedBy,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Kind = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Tier = null,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Quality = null,
        [property: JsonPropertyName("cost_per_1k_tokens"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] decimal? CostPer1kTokens = null,
        [property: JsonPropertyName("cost_per_inference"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] decimal? CostPerInference = null,
        [property: JsonPropertyName("p95_latency_ms"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? P95LatencyMs = null,
        [property: JsonPropertyName("context_tokens"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? ContextTokens = null);

    public sealed record ModelList(string Object, IReadOnlyList<ModelObject> Data);

    private static readonly long Created = DateTimeOffset.Parse("2026-11-23T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeSeconds();

    /// <summary><c>auto</c>: the router picks the cheapest healthy chat model that meets the request's policy.</summary>
    private static readonly ModelObject Auto = new(ChatRequest.Auto, "model", Created, "aifleet", Kind: "router");

    private static async Task<IResult> ListModelsAsync(ModelCatalog catalog) =>
        TypedResults.Ok(new ModelList("list", [.. (await catalog.ListAsync()).Select(ToModel), Auto]));

    private static async Task<IResult> GetModelAsync(string id, ModelCatalog catalog) =>
        id == ChatRequest.Auto
            ? TypedResults.Ok(Auto)
            : await catalog.FindAsync(id) is { } model
                ? TypedResults.Ok(ToModel(model))
                : OpenAiErrors.ModelNotFound(id);

    private static ModelObject ToModel(ModelDescriptor m) => m.Catalog is { } c
        ? new(m.Name, "model", Created, c.Provider ?? "aifleet", c.Kind, c.Tier, c.Quality, c.CostPer1kTokens, c.CostPerInference, c.P95LatencyMs, c.ContextTokens)
        : new(m.Name, "model", Created, "aifleet");

    private static async Task<IResult> EmbeddingsAsync(
        EmbeddingsBody body, HttpContext http, ClaimsPrincipal caller, ModelCatalog catalog, ClusterCalls calls)
    {
        if (body.Model is not { Length: > 0 } model)
        {
            return OpenAiErrors.Invalid("'model' is required and must be a string", "model");
        }

        if (!InputBounds.IsModelName(model))
        {
            return OpenAiErrors.Invalid($"'model' must be at most {InputBounds.MaxNameLength} letters, digits, '.', '_' or '-'", "model");
        }

        if (body.Input.ValueKind == JsonValueKind.Undefined)
        {
            return OpenAiErrors.Invalid("'input' is required", "input");
        }

        if (!TryReadInput(body.Input, out var texts, out var ids, out var inputError))
        {
            return OpenAiErrors.Invalid(inputError!, "input");
        }

        if (await catalog.FindAsync(model) is not { } descriptor)
        {
            return OpenAiErrors.ModelNotFound(model);
        }

        caller.CheckMayUse(model);
        // A version named in the header bypasses the model's traffic policy (its split, its shadow).
        var version = http.Request.Headers[VersionHeader].FirstOrDefault();
        if (version is not null && !descriptor.Versions.Contains(version))
        {
            return OpenAiErrors.Invalid($"model '{model}' has no version '{version}' (it has {string.Join(", ", descriptor.Versions)})", VersionHeader);
        }

        EmbeddingResult result;
        try
        {
            // One id for every send of this request: a re-send after a gateway drop finds its hold, never takes a second.
            var request = new EmbeddingRequest(caller.UserId(), model, texts, ids, Guid.NewGuid().ToString("N"), version, caller.UserTier(), caller.ChargedTeam());
            result = await calls.RunAsync(ct => catalog.Router.EmbedAsync(request, ct), http.RequestAborted);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return TypedResults.Empty;
        }

        var base64 = body.EncodingFormat == EncodingFormat.Base64;
        http.Response.Headers["x-aifleet-model"] = $"{result.Model}/{result.Version}";
        http.Response.Headers["x-aifleet-cost"] = result.Cost.ToString(System.Globalization.CultureInfo.InvariantCulture);
        http.Response.Headers["x-aifleet-cache"] = result.CachedInputs == 0 ? "miss" : result.CachedInputs == result.Embeddings.Count ? "hit" : "partial";
        return TypedResults.Ok(new
        {
            @object = "list",
            data = result.Embeddings.Select((v, i) => new
            {
                @object = "embedding",
                index = i,
                embedding = base64 ? (object)Convert.ToBase64String(MemoryMarshal.AsBytes(v.AsSpan())) : v,
            }),
            model = result.Model,
            usage = new { prompt_tokens = result.PromptTokens, total_tokens = result.PromptTokens },
        });
    }

    /// <summary>OpenAI's four input forms: a string, strings, token ids, or lists of token ids.</summary>
    private static bool TryReadInput(JsonElement input, out IReadOnlyList<string>? texts, out IReadOnlyList<long[]>? ids, out string? error)
    {
        texts = null;
        ids = null;
        error = null;
        switch (input.ValueKind)
        {
            case JsonValueKind.String:
                texts = [input.GetString()!];
                break;
            case JsonValueKind.Array when input.GetArrayLength() == 0:
                error = "'input' must not be empty";
                return false;
            case JsonValueKind.Array when input.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String):
                texts = input.EnumerateArray().Select(e => e.GetString()!).ToArray();
                break;
            case JsonValueKind.Array when input.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number):
                if (!TryReadIds(input, out var single))
                {
                    error = "'input' token ids must be integers";
                    return false;
                }

                ids = [single];
                break;
            case JsonValueKind.Array when input.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Array):
                var lists = new List<long[]>();
                foreach (var e in input.EnumerateArray())
                {
                    if (!TryReadIds(e, out var list) || list.Length == 0)
                    {
                        error = "'input' token id lists must be non-empty lists of integers";
                        return false;
                    }

                    lists.Add(list);
                }

                ids = lists;
                break;
            default:
                error = "'input' must be a string, an array of strings, an array of token ids, or an array of token id arrays";
                return false;
        }

        if (texts is not null && texts.Any(string.IsNullOrEmpty))
        {
            error = "'input' strings must not be empty";
            return false;
        }

        if (texts is not null && texts.Any(t => t.Length > InputBounds.MaxEmbeddingTextLength))
        {
            error = $"'input' strings are at most {InputBounds.MaxEmbeddingTextLength} characters";
            return false;
        }

        return true;
    }

    private static bool TryReadIds(JsonElement array, out long[] ids)
    {
        ids = new long[array.GetArrayLength()];
        var i = 0;
        foreach (var e in array.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out ids[i++]))
            {
                return false;
            }
        }

        return true;
    }
}
