"""A BERT-style uncased WordPiece tokenizer: the same rules as Microsoft.ML.Tokenizers' BertTokenizer with
LowerCaseBeforeTokenization and RemoveNonSpacingMarks, so ids made here match ids made by the C# clients."""
import collections
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(5)


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def basic_tokens(text: str) -> list:
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    out, word = [], []
    for ch in text:
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"):
            if word:
                out.append("".join(word))
                word = []
        elif _is_punctuation(ch):
            if word:
                out.append("".join(word))
                word = []
            out.append(ch)
        else:
            word.append(ch)
    if word:
        out.append("".join(word))
    return out


def build_vocab(texts, extra_words, whole_words: int = 4000, suffixes: int = 600) -> list:
    counts = collections.Counter()
    for t in texts:
        counts.update(basic_tokens(t))
    for w in extra_words:
        counts.update(basic_tokens(w))
    chars = sorted({ch for w in counts for ch in w})
    vocab = list(SPECIALS) + chars + ["##" + ch for ch in chars if ch.isalnum()]
    seen = set(vocab)
    for w, _ in counts.most_common():
        if len(vocab) >= len(SPECIALS) + 2 * len(chars) + whole_words:
            break
        if w not in seen:
            vocab.append(w)
            seen.add(w)
    tails = collections.Counter()
    for w, c in counts.items():
        for n in range(2, min(6, len(w))):
            tails["##" + w[-n:]] += c
    for piece, _ in tails.most_common(suffixes):
        if piece not in seen:
            vocab.append(piece)
            seen.add(piece)
    return vocab


class WordPiece:
    def __init__(self, vocab: list):
        self.vocab = {t: i for i, t in enumerate(vocab)}

    def word_ids(self, word: str) -> list:
        if len(word) > 100:
            return [UNK]
        ids, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = self.vocab[piece]
                    break
                end -= 1
            if found is None:
                return [UNK]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str, max_len: int) -> list:
        ids = [CLS]
        for w in basic_tokens(text):
            ids.extend(self.word_ids(w))
        return ids[: max_len - 1] + [SEP]
