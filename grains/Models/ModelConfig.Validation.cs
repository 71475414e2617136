using Orleans.AiFleet.GrainInterfaces.Models;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Models;

/// <summary>A config's checks: every setting's bounds, the remote section, and the tensors' shapes and datatypes.</summary>
public sealed partial record ModelConfig
{
    /// <summary>Every problem with this config, each naming the setting; empty when it is valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Platform is not (DefaultPlatform or RemotePlatform))
        {
            errors.Add($"platform '{Platform}' is not supported ({DefaultPlatform} or {RemotePlatform})");
        }

        if (Quality is < 0 or > 1)
        {
            errors.Add("quality must be from 0 to 1");
        }

        if (P95LatencyMs < 1)
        {
            errors.Add("p95LatencyMs must be at least 1");
        }

        if (ContextTokens is < 1)
        {
            errors.Add("contextTokens must be at least 1");
        }

        if (string.IsNullOrWhiteSpace(Tier))
        {
            errors.Add("tier must name a catalogue tier");
        }

        if (Cost.CostPerInference < 0 || Cost.CostPer1kTokens < 0)
        {
            errors.Add("cost: prices must be 0 or more");
        }

        if (MaxBatchSize < 0)
        {
            errors.Add("maxBatchSize must be 0 (no batching) or more");
        }

        if (MaxBatchElements is < 1)
        {
            errors.Add("maxBatchElements must be at least 1");
        }

        if (MaxQueueDelayMs < 0)
        {
            errors.Add("maxQueueDelayMs must be 0 or more");
        }

        if (MaxQueueLength < 1)
        {
            errors.Add("maxQueueLength must be at least 1");
        }

        if (RequestTimeoutMs < 1)
        {
            errors.Add("requestTimeoutMs must be at least 1");
        }

        foreach (var lane in Enum.GetValues<Priority>())
        {
            if (Lanes.Of(lane) is { MaxQueueLength: < 1 })
            {
                errors.Add($"lanes.{lane.Name()}.maxQueueLength must be at least 1");
            }

            if (Lanes.Of(lane) is { RequestTimeoutMs: < 1 })
            {
                errors.Add($"lanes.{lane.Name()}.requestTimeoutMs must be at least 1");
            }

            if (Lanes.Of(lane) is { Share: < 1 or > 1000 })
            {
                errors.Add($"lanes.{lane.Name()}.share must be from 1 to 1000");
            }
        }

        if (Replicas.MinReplicas < 1 || Replicas.MaxReplicas < Replicas.MinReplicas)
        {
            errors.Add("replicas: need 1 <= minReplicas <= maxReplicas");
        }

        if (Platform == RemotePlatform)
        {
            ValidateRemote(errors);
            return errors;
        }

        if (Remote is not null)
        {
            errors.Add($"remote: only a model with platform '{RemotePlatform}' has a remote provider");
        }

        if (Execution.IntraOpThreads < 0)
        {
            errors.Add("execution.intraOpThreads must be 0 (ONNX Runtime's default) or more");
        }

        ValidateTensors("inputs", Inputs, errors);
        ValidateTensors("outputs", Outputs, errors);
        ValidatePrice(errors);
        return errors;
    }

    /// <summary>Every model served on <c>/v2</c> prices its work: a call that runs is never free.</summary>
    private void ValidatePrice(List<string> errors)
    {
        if (Cost.TokensInput is { } named && !Inputs.Any(i => i.Name == named && i.Datatype == "INT64"))
        {
            errors.Add($"cost.tokensInput '{named}' must name an INT64 input");
        }

        var tokensPriced = Cost.CostPer1kTokens > 0 && TokensInput is not null;
        if (Cost.CostPerInference <= 0 && !tokensPriced)
        {
            errors.Add("cost: a model served on /v2 needs a price for its work: costPerInference above 0, or costPer1kTokens above 0 with a token input (cost.tokensInput, or an input named input_ids)");
        }
    }

    private void ValidateRemote(List<string> errors)
    {
        if (Remote is not { } remote)
        {
            errors.Add($"remote: a '{RemotePlatform}' model needs a remote section (baseUrl, model, apiKeyEnv)");
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

        if (!Encodings.Contains(remote.Encoding))
        {
            errors.Add($"remote.encoding '{remote.Encoding}' is not one of {string.Join(", ", Encodings)}");
        }

        if (remote.MaxInFlight < 1 || remote.MaxOutputTokens < 1)
        {
            errors.Add("remote: maxInFlight and maxOutputTokens must be at least 1");
        }

        if (ContextTokens is null)
        {
            errors.Add("contextTokens is required for a remote model");
        }

        if (Generation is not null || Inputs.Count > 0 || Outputs.Count > 0)
        {
            errors.Add("a remote model has no inputs, outputs or generation section: the provider decodes");
        }
    }

    private void ValidateTensors(string kind, IReadOnlyList<TensorConfig> tensors, List<string> errors)
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
            else if (MaxBatchSize > 0 && t.Shape[0] != -1)
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

    /// <summary>The config's signature in contract form.</summary>
    internal static IReadOnlyList<TensorSpec> ToSpecs(IReadOnlyList<TensorConfig> tensors) =>
        tensors.Select(t =>
        {
            TensorDataTypes.TryParse(t.Datatype, out var type);
            return new TensorSpec(t.Name, type, t.Shape);
        }).ToArray();
}
