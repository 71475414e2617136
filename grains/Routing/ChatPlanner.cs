using System.Globalization;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;
using Orleans.AiFleet.Grains.Replicas;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>
/// Chat planning on one silo: which models may answer a request, and in which order (<see cref="ChatExecutor"/> runs
/// the plan). A named model is checked against the caller's user tier and limits. <c>auto</c> takes
/// every chat model of the catalogue that the user's tier allows and that meets the request's quality floor,
/// latency ceiling, model tier, token limit and context, and orders them healthy first, then by the price of the
/// request's worst case, then expected latency, then quality: the first is the cheapest healthy model that
/// satisfies the request, the rest its fallback chain.
/// </summary>
internal sealed class ChatPlanner(
    IGrainFactory grains,
    ModelRepository repository,
    RoutingTableCache tables,
    TokenizerCache tokenizers,
    ResponseCache cache,
    InferenceMetrics metrics)
{
    /// <summary>A model that may answer, with what this request would cost on it at most.</summary>
    internal sealed record Candidate(RepositoryModel Model, int PromptTokens, decimal WorstCase);

    /// <summary>The models to try in order, and why the first was chosen.</summary>
    internal sealed record Plan(IReadOnlyList<Candidate> Candidates, string ReasonKind, string Reason);

    public async Task<Plan> PlanAsync(ChatRequest request)
    {
        if (request.MaxTokens < 1)
        {
            throw AiFleetException.Invalid("'max_tokens' must be at least 1");
        }

        var routing = repository.Routing;
        var userTier = routing.Resolve(request.UserTier);
        if (request.Model != ChatRequest.Auto)
        {
            var model = repository.Find(request.Model)
                ?? throw AiFleetException.ModelNotFound($"model '{request.Model}' is not in the repository");
            if (!model.IsChat)
            {
                throw AiFleetException.Invalid($"model '{model.Name}' is not a chat model (it does not generate text)");
            }

            if (!routing.Allows(userTier, model.Config.Tier))
            {
                throw AiFleetException.ModelNotAllowed($"model '{model.Name}' is in tier '{model.Config.Tier}', which user tier '{userTier}' may not use");
            }

            if (request.MaxTokens > model.MaxNewTokens)
            {
                throw AiFleetException.Invalid($"'max_tokens' must be from 1 to {model.MaxNewTokens} for model '{model.Name}'");
            }

            var prompt = tokenizers.PromptTokens(model, request.Prompt);
            if (model.IsRemote && prompt + request.MaxTokens > model.ContextTokens)
            {
                throw AiFleetException.Invalid(
                    $"the prompt ({prompt} tokens) and 'max_tokens' ({request.MaxTokens}) exceed model '{model.Name}''s context of {model.ContextTokens} tokens");
            }

            // A local generator keeps the end of a prompt longer than its context, as it always has.
            prompt = Math.Min(prompt, model.ContextTokens);
            return new Plan([new Candidate(model, prompt, model.Price(prompt + request.MaxTokens))], "requested", $"model '{model.Name}' was requested");
        }

        var policy = request.Policy ?? new RoutingPolicy();
        if (policy.Tier is { } tier && !routing.Allows(userTier, tier))
        {
            throw AiFleetException.ModelNotAllowed($"tier '{tier}' is not one user tier '{userTier}' may use");
        }

        var matching = new List<Candidate>();
        foreach (var model in repository.Models)
        {
            if (!model.IsChat || !routing.Allows(userTier, model.Config.Tier) || (policy.Tier is { } t && model.Config.Tier != t)
                || model.Config.Quality < (policy.MinQuality ?? 0) || model.Config.P95LatencyMs > (policy.MaxLatencyMs ?? int.MaxValue)
                || request.MaxTokens > model.MaxNewTokens)
            {
                continue;
            }

            var prompt = tokenizers.PromptTokens(model, request.Prompt);
            if (prompt + request.MaxTokens <= model.ContextTokens)
            {
                matching.Add(new Candidate(model, prompt, model.Price(prompt + request.MaxTokens)));
            }
        }

        var constraints = Describe(policy, userTier);
        if (matching.Count == 0)
        {
            throw AiFleetException.Invalid(
                $"no chat model in the catalogue meets {constraints} for this prompt with 'max_tokens' {request.MaxTokens}");
        }

        var health = await Task.WhenAll(matching.Select(c => IsHealthyAsync(c.Model)));
        var ordered = matching.Select((c, i) => (Candidate: c, Healthy: health[i]))
            .OrderByDescending(x => x.Healthy)
            .ThenBy(x => x.Candidate.WorstCase)
            .ThenBy(x => x.Candidate.Model.Config.P95LatencyMs)
            .ThenByDescending(x => x.Candidate.Model.Config.Quality)
            .ThenBy(x => x.Candidate.Model.Name, StringComparer.Ordinal)
            .Take(1 + routing.MaxFallbacks)
            .ToList();
        var unhealthy = health.Count(h => !h);
        var reason = $"cheapest of {matching.Count} model{(matching.Count == 1 ? "" : "s")} meeting {constraints}"
            + (unhealthy > 0 ? $"; {unhealthy} without a healthy replica passed over" : "");
        return new Plan(ordered.Select(x => x.Candidate).ToArray(), "cheapest", reason);
    }

    private static string Describe(RoutingPolicy policy, string userTier)
    {
        var parts = new List<string>();
        if (policy.MinQuality is { } q)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"quality >= {q:0.###}"));
        }

        if (policy.MaxLatencyMs is { } l)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"p95 <= {l} ms"));
        }

        parts.Add(policy.Tier is { } t ? $"tier {t}" : $"user tier {userTier}");
        return string.Join(", ", parts);
    }

    /// <summary>Whether the model has a replica in rotation whose circuit on this silo admits calls.</summary>
    private async Task<bool> IsHealthyAsync(RepositoryModel model)
    {
        try
        {
            var replicas = await tables.GetAsync(model.Name, model.DefaultVersion);
            return replicas.Count > 0 && replicas.Pick() >= 0;
        }
        catch (Exception e) when (Faults.IsReplicaFault(e))
        {
            return false;
        }
    }

    /// <summary>A deterministic request (temperature 0) answered before by the plan's first model: its key and answer.</summary>
    internal async Task<(string? Key, CachedChat? Answer)> LookUpAsync(ChatRequest request, Plan plan)
    {
        if (request.Temperature != 0)
        {
            return (null, null);
        }

        var primary = plan.Candidates[0].Model;
        var key = CacheKey(primary, request);
        if (await cache.GetAsync("chat", key) is not { } hit)
        {
            return (key, null);
        }

        // Free, but a request all the same: it counts toward the user's requests per minute.
        await BudgetHold.AdmitFreeAsync(grains, request.User, request.Team);

        metrics.ChatRoute(primary.Name, plan.ReasonKind, "cached");
        return (key, System.Text.Json.JsonSerializer.Deserialize<CachedChat>(hit));
    }

    /// <summary>One hold per request and model tried: a re-sent request finds its hold again rather than take another.</summary>
    internal static string? HoldId(ChatRequest request, RepositoryModel model) =>
        request.RequestId is { } id ? $"{id}/{model.Name}" : null;

    public string CacheKey(RepositoryModel model, ChatRequest request) =>
        ResponseCache.Key("chat", cache.ScopeOf(request.User), model.Name, model.DefaultVersion, request.MaxTokens.ToString(CultureInfo.InvariantCulture), request.Prompt);
}
