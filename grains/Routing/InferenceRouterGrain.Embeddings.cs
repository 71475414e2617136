using System.Runtime.InteropServices;
using Orleans.AiFleet.GrainInterfaces.Budgets;
using Orleans.AiFleet.Grains.Budgets;
using Orleans.AiFleet.GrainInterfaces.Inference;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Routing;

/// <summary>Embeddings: tokenized here, served from the response cache where it can, the misses batched on replicas.</summary>
internal sealed partial class InferenceRouterGrain
{
    /// <summary>Tokens per embedded input, [CLS] and [SEP] included.</summary>
    public const int MaxEmbeddingTokens = 256;

    /// <summary>Inputs per embeddings request.</summary>
    public const int MaxEmbeddingInputs = 2048;

    public async Task<EmbeddingResult> EmbedAsync(EmbeddingRequest request, CancellationToken cancellationToken = default)
    {
        var model = repository.Find(request.Model)
            ?? throw AiFleetException.ModelNotFound($"model '{request.Model}' is not in the repository");
        if (!model.Config.Outputs.Any(o => o.Name == SentenceEmbedding))
        {
            throw AiFleetException.Invalid($"model '{model.Name}' does not produce embeddings (it has no '{SentenceEmbedding}' output)");
        }

        var inputs = Tokenize(model, request);
        var tokens = inputs.Sum(a => a.Length);
        var version = request.Version ?? (await policies.GetAsync(model.Name)).Choose(model.Name, request.User);
        model = await WithVersionAsync(model, version);

        // Embeddings are deterministic: inputs seen before come from the response cache, free.
        var scope = cache.ScopeOf(request.User);
        var keys = inputs.Select(ids => ResponseCache.Key("embedding", scope, model.Name, version, string.Join(',', ids))).ToArray();
        var cached = await Task.WhenAll(keys.Select(k => cache.GetAsync("embedding", k).AsTask()));
        var misses = Enumerable.Range(0, inputs.Count).Where(i => cached[i] is null).ToArray();
        var missTokens = misses.Sum(i => inputs[i].Length);
        var cost = misses.Length == 0 ? 0m : Money.Ceiling((model.Config.Cost.CostPerInference * misses.Length) + (model.Config.Cost.CostPer1kTokens * missTokens / 1000m));
        var embeddings = cached.Select(c => c is null ? null : MemoryMarshal.Cast<byte, float>(c).ToArray()).ToArray();
        if (misses.Length == 0)
        {
            // Free, but a request all the same: it counts toward the requests per minute at every level.
            await BudgetHold.AdmitFreeAsync(GrainFactory, request.User, request.Team);
            return new EmbeddingResult(model.Name, version, embeddings!, tokens, 0m, inputs.Count);
        }

        // Held before the work, settled after it: what was used if it finished, nothing if it did not.
        var hold = await BudgetHold.ReserveAsync(GrainFactory, request.User,
            new ReserveRequest(model.Name, cost, missTokens, RequestId: request.RequestId, UserTier: request.UserTier, Team: request.Team));

        var outcome = "failed";
        var lane = repository.Routing.Lane(request.UserTier, null);
        try
        {
            var answers = await Task.WhenAll(misses.Select(i => InferAsync(
                new InferenceRequest(model.Name, version,
                    [Tensor.FromInt64s("input_ids", [1, inputs[i].Length], inputs[i]), Tensor.FromInt64s("attention_mask", [1, inputs[i].Length], Ones(inputs[i].Length))],
                    [SentenceEmbedding], Priority: lane),
                cancellationToken)));
            for (var m = 0; m < misses.Length; m++)
            {
                var vector = answers[m].Outputs[0].Fp32!;
                embeddings[misses[m]] = vector;
                await cache.SetAsync(keys[misses[m]], MemoryMarshal.AsBytes(vector.AsSpan()).ToArray());
            }

            outcome = "ok";
            return new EmbeddingResult(model.Name, version, embeddings!, tokens, cost, inputs.Count - misses.Length);
        }
        catch (OperationCanceledException)
        {
            outcome = "cancelled";
            throw;
        }
        finally
        {
            // Delivered, charged; failed or cancelled (every input was checked before any ran, so a failure here is the
            // cluster's or the caller's hang-up), nothing was delivered and nothing is charged.
            await hold.SettleAsync(outcome == "ok" ? cost : 0m, outcome == "ok" ? missTokens : 0, outcome);
        }
    }

    private const string SentenceEmbedding = "sentence_embedding";

    private List<long[]> Tokenize(RepositoryModel model, EmbeddingRequest request)
    {
        var count = request.Texts?.Count ?? request.TokenIds?.Count ?? 0;
        if (count is 0 or > MaxEmbeddingInputs)
        {
            throw AiFleetException.Invalid($"'input' must hold 1 to {MaxEmbeddingInputs} items (got {count})");
        }

        var tokenizer = tokenizers.Find(model.Name);
        List<long[]> inputs;
        if (request.Texts is { } texts)
        {
            if (tokenizer is null)
            {
                throw AiFleetException.Invalid($"model '{model.Name}' has no tokenizer (vocab.txt); send token ids instead of text");
            }

            inputs = texts.Select(t => tokenizer.EncodeToIds(t).Select(id => (long)id).ToArray()).ToList();
        }
        else
        {
            // Every input is checked before any runs: one bad id must not fail the request after the others ran.
            inputs = request.TokenIds!.ToList();
            var vocab = model.Config.Inputs.FirstOrDefault(t => t.Name == "input_ids")?.VocabSize ?? long.MaxValue;
            for (var i = 0; i < inputs.Count; i++)
            {
                if (inputs[i] is not { Length: > 0 } ids)
                {
                    throw AiFleetException.Invalid($"input {i} must be a non-empty list of token ids", "input");
                }

                if (Replicas.RequestValidator.OutsideVocabulary(ids, vocab) is var bad and >= 0)
                {
                    throw AiFleetException.Invalid($"input {i} holds token id {ids[bad]}; model '{model.Name}' takes ids from 0 to {vocab - 1}", "input");
                }
            }
        }

        for (var i = 0; i < inputs.Count; i++)
        {
            if (inputs[i].Length > MaxEmbeddingTokens)
            {
                throw AiFleetException.Invalid($"input {i} has {inputs[i].Length} tokens; model '{model.Name}' reads at most {MaxEmbeddingTokens}");
            }
        }

        return inputs;
    }

    private static long[] Ones(int length)
    {
        var ones = new long[length];
        Array.Fill(ones, 1L);
        return ones;
    }
}
