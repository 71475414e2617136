using System.Runtime.CompilerServices;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>Text generation: a remote provider's stream relayed, or the local model decoded step by step through the batcher.</summary>
internal sealed partial class ModelReplicaGrain
{
    public IAsyncEnumerable<GenerationChunk> GenerateAsync(GenerationRequest request, CancellationToken cancellationToken = default) =>
        _model.IsRemote ? GenerateRemoteAsync(request, cancellationToken) : GenerateLocalAsync(request, cancellationToken);

    /// <summary>Relays the provider's stream; at most the model's <c>maxInFlight</c> at once, beyond that a 429.</summary>
    private async IAsyncEnumerable<GenerationChunk> GenerateRemoteAsync(
        GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var limit = _model.Config.Remote!.MaxInFlight;
        if (Interlocked.Increment(ref _remoteInFlight) > limit)
        {
            Interlocked.Decrement(ref _remoteInFlight);
            metrics.Request(_model.Name, _version, "overloaded");
            throw AiFleetException.Overloaded($"replica {this.GetPrimaryKeyString()} has {limit} requests in flight to its provider", 50);
        }

        var outcome = "failed";
        try
        {
            await foreach (var chunk in remote.StreamAsync(_model, request, cancellationToken))
            {
                yield return chunk;
            }

            outcome = "ok";
        }
        finally
        {
            Interlocked.Decrement(ref _remoteInFlight);
            Interlocked.Increment(ref _remoteCompleted);
            metrics.Request(_model.Name, _version, cancellationToken.IsCancellationRequested ? "cancelled" : outcome);
        }
    }

    private async IAsyncEnumerable<GenerationChunk> GenerateLocalAsync(
        GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var generation = _model.Config.Generation
            ?? throw AiFleetException.Invalid($"model '{_model.Name}' does not generate text");
        if (request.MaxTokens < 1 || request.Temperature < 0 || request.Temperature > 2)
        {
            throw AiFleetException.Invalid("max tokens must be at least 1 and temperature between 0 and 2");
        }

        _vocabulary ??= CharVocabulary.Load(Path.Combine(_model.Folder, generation.Vocabulary));
        var prompt = _vocabulary.Encode(request.Prompt, generation.ContextLength);
        var random = request.Seed is { } seed ? new Random(seed) : new Random();
        var limit = Math.Min(request.MaxTokens, generation.MaxNewTokens);
        var input = prompt;
        var state = new float[generation.StateSize];
        var produced = 0;
        var finish = "length";
        while (produced < limit)
        {
            // One decoding step: the prompt at first, then the last token, with the recurrent state carried over.
            var step = RequestValidator.Prepare(_model.Config, _model.Name, new InferenceRequest(_model.Name, _version,
                [Tensor.FromInt64s("input_ids", [1, input.Length], input), Tensor.FromFloats(generation.StateInput, [1, state.Length], state)],
                [generation.LogitsOutput, generation.StateOutput]));
            var answer = await _batcher!.InferAsync(step, cancellationToken);
            state = answer.Outputs[1].Fp32!;
            var next = Sample(answer.Outputs[0].Fp32!, request.Temperature, random);
            if (next == CharVocabulary.End)
            {
                finish = "stop";
                break;
            }

            produced++;
            input = [next];
            yield return new GenerationChunk(_vocabulary.Decode(next), prompt.Length, produced, null);
        }

        yield return new GenerationChunk("", prompt.Length, produced, finish);
    }

    /// <summary>The likeliest token at temperature 0; otherwise a draw from the softmax of logits / temperature.</summary>
    private static long Sample(float[] logits, double temperature, Random random)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        if (temperature == 0)
        {
            return best;
        }

        var weights = new double[logits.Length];
        var total = 0.0;
        for (var i = 0; i < logits.Length; i++)
        {
            total += weights[i] = Math.Exp((logits[i] - logits[best]) / temperature);
        }

        var draw = random.NextDouble() * total;
        for (var i = 0; i < weights.Length; i++)
        {
            draw -= weights[i];
            if (draw <= 0)
            {
                return i;
            }
        }

        return best;
    }
}
