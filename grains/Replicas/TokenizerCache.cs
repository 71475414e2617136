using System.Collections.Concurrent;
using Microsoft.ML.Tokenizers;
using Orleans.AiFleet.Grains.Models;

namespace Orleans.AiFleet.Grains.Replicas;

/// <summary>
/// Each model's own tokenizer, loaded once per silo: a WordPiece <c>vocab.txt</c> beside the model's config makes a
/// BERT-style tokenizer (lower-cased, accents stripped, [CLS] ... [SEP]), as the shipped text encoder was trained;
/// a generator has its character vocabulary; a remote chat model is counted with its tiktoken encoding (data from
/// the Microsoft.ML.Tokenizers.Data packages, so nothing is downloaded).
/// </summary>
internal sealed class TokenizerCache(ModelRepository repository)
{
    private readonly ConcurrentDictionary<string, Lazy<BertTokenizer?>> _tokenizers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<CharVocabulary?>> _characters = new(StringComparer.Ordinal);

    private readonly ConcurrentDictionary<string, Lazy<TiktokenTokenizer>> _tiktoken = new(StringComparer.Ordinal);

    /// <summary>What OpenAI's chat format adds to one user message (its role and separators, and the reply's priming).</summary>
    public const int ChatOverheadTokens = 7;

    /// <summary>The tiktoken tokenizer of an encoding (<c>o200k_base</c>, <c>cl100k_base</c>).</summary>
    public TiktokenTokenizer Tiktoken(string encoding) =>
        _tiktoken.GetOrAdd(encoding, e => new Lazy<TiktokenTokenizer>(() => TiktokenTokenizer.CreateForEncoding(e))).Value;

    /// <summary>
    /// The tokens a chat prompt takes on a model, untruncated: tiktoken tokens plus the chat format's overhead for a
    /// remote model; the beginning-of-text mark and the known characters for a local generator.
    /// </summary>
    public int PromptTokens(RepositoryModel model, string prompt) =>
        model.Config.Remote is { } remote
            ? Tiktoken(remote.Encoding).CountTokens(prompt) + ChatOverheadTokens
            : Characters(model.Name)?.Encode(prompt, int.MaxValue).Length ?? 0;

    /// <summary>The tokens of a piece of generated text on a remote model.</summary>
    public int CompletionTokens(RemoteConfig remote, string text) => Tiktoken(remote.Encoding).CountTokens(text);

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
