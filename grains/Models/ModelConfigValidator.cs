using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>A config's checks: every setting's bounds, the remote section, and the tensors' shapes and datatypes.</summary>
internal static class ModelConfigValidator
{
    /// <summary>Every problem with this config, each naming the setting; empty when it is valid.</summary>
    public static IReadOnlyList<string> Validate(ModelConfig c)
    {
        var errors = new List<string>();
        if (c.Platform is not (ModelConfig.DefaultPlatform or ModelConfig.RemotePlatform))
        {
            errors.Add($"platform '{c.Platform}' is not supported ({ModelConfig.DefaultPlatform} or {ModelConfig.RemotePlatform})");
        }

        if (c.Quality is < 0 or > 1)
        {
            errors.Add("quality must be from 0 to 1");
        }

        if (c.P95LatencyMs < 1)
        {
            errors.Add("p95LatencyMs must be at least 1");
        }

        if (c.ContextTokens is < 1)
        {
            errors.Add("contextTokens must be at least 1");
        }

        if (string.IsNullOrWhiteSpace(c.Tier))
        {
            errors.Add("tier must name a catalogue tier");
        }

        if (c.Cost.CostPerInference < 0 || c.Cost.CostPer1kTokens < 0)
        {
            errors.Add("cost: prices must be 0 or more");
        }

        if (c.MaxBatchSize < 0)
        {
            errors.Add("maxBatchSize must be 0 (no batching) or more");
        }

        if (c.MaxBatchElements is < 1)
        {
            errors.Add("maxBatchElements must be at least 1");
        }

        if (c.MaxQueueDelayMs < 0)
        {
            errors.Add("maxQueueDelayMs must be 0 or more");
        }

        if (c.MaxQueueLength < 1)
        {
            errors.Add("maxQueueLength must be at least 1");
        }

        if (c.RequestTimeoutMs < 1)
        {
            errors.Add("requestTimeoutMs must be at least 1");
        }

        foreach (var lane in Enum.GetValues<Priority>())
        {
            if (c.Lanes.Of(lane) is { MaxQueueLength: < 1 })
            {
                errors.Add($"lanes.{lane.Name()}.maxQueueLength must be at least 1");
            }

            if (c.Lanes.Of(lane) is { RequestTimeoutMs: < 1 })
            {
                errors.Add($"lanes.{lane.Name()}.requestTimeoutMs must be at least 1");
            }

            if (c.Lanes.Of(lane) is { Share: < 1 or > 1000 })
            {
                errors.Add($"lanes.{lane.Name()}.share must be from 1 to 1000");
            }
        }

        if (c.Replicas.MinReplicas < 1 || c.Replicas.MaxReplicas < c.Replicas.MinReplicas)
        {
            errors.Add("replicas: need 1 <= minReplicas <= maxReplicas");
        }

        if (c.Platform == ModelConfig.RemotePlatform)
        {
            ValidateRemote(c, errors);
            return errors;
        }

        if (c.Remote is not null)
        {
            errors.Add($"remote: only a model with platform '{ModelConfig.RemotePlatform}' has a remote provider");
        }

        if (c.Execution.IntraOpThreads < 0)
        {
            errors.Add("execution.intraOpThreads must be 0 (ONNX Runtime's default) or more");
        }

        ValidateTensors(c, "inputs", c.Inputs, errors);
        ValidateTensors(c, "outputs", c.Outputs, errors);
        ValidatePrice(c, errors);
        return errors;
    }

    /// <summary>Every model served on <c>/v2</c> prices its work: a call that runs is never free.</summary>
    private static void ValidatePrice(ModelConfig c, List<string> errors)
    {
        if (c.Cost.TokensInput is { } named && !c.Inputs.Any(i => i.Name == named && i.Datatype == "INT64"))
        {
            errors.Add($"cost.tokensInput '{named}' must name an INT64 input");
        }

        var tokensPriced = c.Cost.CostPer1kTokens > 0 && c.TokensInput is not null;
        if (c.Cost.CostPerInference <= 0 && !tokensPriced)
        {
            errors.Add("cost: a model served on /v2 needs a price for its work: costPerInference above 0, or costPer1kTokens above 0 with a token input (cost.tokensInput, or an input named input_ids)");
        }
    }

    private static void ValidateRemote(ModelConfig c, List<string> errors)
    {
        if (c.Remote is not { } remote)
        {
            errors.Add($"remote: a '{ModelConfig.RemotePlatform}' model needs a remote section (baseUrl, model, apiKeyEnv)");
            return;
        }

        if (!Uri.TryCreate(remote.BaseUrl, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            errors.Add($"remote.baseUrl '{remote.BaseUrl}' must be an absolute http or https URL");
        }

        if (string.IsNullOrWhiteSpace(remote.Model))
        {
            errors.Add("remote.model must name the provider's model");
        }

        if (!ModelConfig.Encodings.Contains(remote.Encoding))
        {
            errors.Add($"remote.encoding '{remote.Encoding}' is not one of {string.Join(", ", ModelConfig.Encodings)}");
        }

        if (remote.MaxInFlight < 1 || remote.MaxOutputTokens < 1)
        {
            errors.Add("remote: maxInFlight and maxOutputTokens must be at least 1");
        }

        if (c.ContextTokens is null)
        {
            errors.Add("contextTokens is required for a remote model");
        }

        if (c.Generation is not null || c.Inputs.Count > 0 || c.Outputs.Count > 0)
        {
            errors.Add("a remote model has no inputs, outputs or generation section: the provider decodes");
        }
    }

    private static void ValidateTensors(ModelConfig c, string kind, IReadOnlyList<TensorConfig> tensors, List<string> errors)
    {
        if (tensors.Count == 0)
        {
            errors.Add($"{kind}: at least one is required");
        }

        foreach (var t in tensors)
        {
            if (string.IsNullOrWhiteSpace(t.Name))
            {
                errors.Add($"{kind}: every entry needs a name");
            }

            if (!TensorDataTypes.TryParse(t.Datatype, out _))
            {
                errors.Add($"{kind}.{t.Name}: datatype '{t.Datatype}' is not supported ({TensorDataTypes.Supported})");
            }

            if (t.Shape is null || t.Shape.Length == 0 || t.Shape.Any(d => d < -1 || d == 0))
            {
                errors.Add($"{kind}.{t.Name}: shape needs one or more dimensions, each positive or -1 (dynamic)");
            }
            else if (c.MaxBatchSize > 0 && t.Shape[0] != -1)
            {
                errors.Add($"{kind}.{t.Name}: with maxBatchSize > 0, dimension 0 is the batch dimension and must be -1");
            }

            if (t.MaxShape is { } max && (t.Shape is null || max.Length != t.Shape.Length || max.Any(d => d < 0)))
            {
                errors.Add($"{kind}.{t.Name}: maxShape needs one bound per dimension of shape, each 0 (unbounded) or positive");
            }

            if (t.Mask && t.Datatype != "INT64")
            {
                errors.Add($"{kind}.{t.Name}: a mask must be INT64");
            }

            if (t.VocabSize is { } vocab && (vocab < 1 || t.Datatype != "INT64"))
            {
                errors.Add($"{kind}.{t.Name}: vocabSize is for INT64 token ids and must be at least 1");
            }
        }

        foreach (var dup in tensors.GroupBy(t => t.Name).Where(g => g.Count() > 1))
        {
            errors.Add($"{kind}: '{dup.Key}' appears more than once");
        }
    }
}
