using System.Collections.Concurrent;
using Microsoft.ML.Tokenizers;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Inference;

/// <summary>
/// Each model's own tokenizer, loaded once per silo: a WordPiece <c>vocab.txt</c> beside the model's config makes a
/// BERT-style tokenizer (lower-cased, accents stripped, [CLS] ... [SEP]), as the shipped text encoder was trained.
/// </summary>
internal sealed class TokenizerCache(ModelRepository repository)
{
    private readonly ConcurrentDictionary<string, Lazy<BertTokenizer?>> _tokenizers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<CharVocabulary?>> _characters = new(StringComparer.Ordinal);

    /// <summary>A generative model's character vocabulary, or null when the model does not generate text.</summary>
    public CharVocabulary? Characters(string model) => _characters.GetOrAdd(model, name => new Lazy<CharVocabulary?>(() =>
        repository.Find(name) is { Config.Generation: { } generation } found
            ? CharVocabulary.Load(Path.Combine(found.Folder, generation.Vocabulary))
            : null)).Value;

    /// <summary>The model's tokenizer, or null when it has none.</summary>
    public BertTokenizer? Find(string model) => _tokenizers.GetOrAdd(model, name => new Lazy<BertTokenizer?>(() =>
    {
        var folder = repository.Find(name)?.Folder;
        var vocab = folder is null ? null : Path.Combine(folder, "vocab.txt");
        return vocab is not null && File.Exists(vocab)
            ? BertTokenizer.Create(vocab, new BertOptions { LowerCaseBeforeTokenization = true, RemoveNonSpacingMarks = true })
            : null;
    })).Value;
}
