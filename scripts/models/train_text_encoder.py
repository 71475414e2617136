"""Trains `text-encoder`: a small sentence encoder with the sentence-transformers I/O contract.

Inputs `input_ids`, `attention_mask` INT64 [batch, seq]; outputs `last_hidden_state` FP32 [batch, seq, 64] and
`sentence_embedding` FP32 [batch, 64] (masked mean pooling, L2-normalised), so a real export such as
all-MiniLM-L6-v2 can replace it with only its config and vocab changed.  Data: the King James Bible text from
Debian's bible-kjv package (copyright expired) plus /usr/share/dict/words for the vocabulary.  Objective: masked
words plus an in-batch contrastive loss that pulls adjacent verses together.  The held-out metric is top-1
retrieval of a verse's successor among 500 held-out verses (recall@10 and mean rank).
"""
import os

import numpy as np
import torch
from torch import nn

from bible import load_verses
from common import MODELS, seed_everything, write_json
from wordpiece import MASK, PAD, SPECIALS, WordPiece, build_vocab

SEED, DIM, HEADS, LAYERS, MAX_POS, MAX_LEN = 20261123, 64, 4, 2, 128, 48
STEPS, BATCH = 3000, 64


class Encoder(nn.Module):
    """A pre-LN transformer encoder with mean pooling; the text-encoder's shape unless told otherwise."""

    def __init__(self, vocab_size: int, dim: int = DIM, heads: int = HEADS, layers: int = LAYERS,
                 ffn: int = 2 * DIM, activation: str = "relu"):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=PAD)
        self.positions = nn.Embedding(MAX_POS, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, ffn, dropout=0.0, activation=activation, batch_first=True,
                                           norm_first=True)
        self.layers = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, input_ids, attention_mask):
        # Positions from a cumulative sum keep the sequence axis dynamic in the ONNX graph; clamped so a longer
        # input than the table still runs (reusing the last position) instead of failing inside the graph.
        positions = torch.clamp(torch.cumsum(torch.ones_like(input_ids), dim=1) - 1, max=MAX_POS - 1)
        x = self.tokens(input_ids) + self.positions(positions)
        hidden = self.norm(self.layers(x, src_key_padding_mask=attention_mask == 0))
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / torch.clamp(mask.sum(1), min=1.0)
        return hidden, nn.functional.normalize(pooled, dim=-1)


def batchify(rows: list):
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    return ids, (ids != PAD).long()


def losses(model, head, train_ids: list, g, batch: int):
    """One training batch's two losses: masked words on a verse, and the in-batch contrast with its successor."""
    starts = torch.randint(0, len(train_ids) - 1, (batch,), generator=g).tolist()
    a_ids, a_mask = batchify([train_ids[s] for s in starts])
    b_ids, b_mask = batchify([train_ids[s + 1] for s in starts])
    masked = a_ids.clone()
    pick = (torch.rand(a_ids.shape, generator=g) < 0.15) & (a_ids >= len(SPECIALS))
    masked[pick] = MASK
    hidden, emb_a = model(masked, a_mask)
    mlm = nn.functional.cross_entropy(head(hidden[pick]), a_ids[pick]) if pick.any() else hidden.sum() * 0
    _, emb_b = model(b_ids, b_mask)
    contrast = nn.functional.cross_entropy(emb_a @ emb_b.T / 0.05, torch.arange(batch))
    return mlm, contrast


def next_verse_retrieval(model, test_ids: list):
    """Held-out quality: each verse's successor ranked among all held-out verses (recall@10, mean rank)."""
    model.eval()
    with torch.no_grad():
        q_ids, q_mask = batchify(test_ids[:-1])
        k_ids, k_mask = batchify(test_ids[1:])
        _, q = model(q_ids, q_mask)
        _, k = model(k_ids, k_mask)
        scores = q @ k.T
        ranks = (scores > scores.diagonal().unsqueeze(1)).sum(1) + 1
        return (ranks <= 10).float().mean().item(), ranks.float().mean().item()


def retrieval_metrics(recall10: float, mean_rank: float, held_out: int, steps: int) -> dict:
    """metrics.json's quality fields, beside what chance would score."""
    return {
        "dataset": "King James Bible (Debian bible-kjv), last 501 verses held out",
        "heldOutNextVerseRecallAt10": round(recall10, 4),
        "chanceRecallAt10": round(10 / held_out, 4),
        "heldOutNextVerseMeanRank": round(mean_rank, 1),
        "chanceMeanRank": (held_out + 1) / 2,
        "trainingSteps": steps,
    }


def main() -> None:
    seed_everything(SEED)
    verses = load_verses()
    with open("/usr/share/dict/words", encoding="utf-8") as f:
        words = [w.strip() for w in f if w.strip() and "'" not in w]
    vocab = build_vocab(verses, words)
    tok = WordPiece(vocab)
    encoded = [tok.encode(v, MAX_LEN) for v in verses]
    held_out = 500
    train_ids, test_ids = encoded[: -held_out - 1], encoded[-held_out - 1:]
    model, head = Encoder(len(vocab)), None
    head = nn.Linear(DIM, len(vocab))
    opt = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=2e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(SEED)
    for step in range(STEPS):
        mlm, contrast = losses(model, head, train_ids, g, BATCH)
        loss = mlm + contrast
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 250 == 0:
            print(f"step {step}: mlm {mlm.item():.3f} contrastive {contrast.item():.3f}")
    recall10, mean_rank = next_verse_retrieval(model, test_ids)
    print(f"held-out next-verse retrieval among {held_out}: recall@10 {recall10:.4f} (chance {10 / held_out:.4f}), "
          f"mean rank {mean_rank:.1f} (chance {(held_out + 1) / 2:.1f})")

    out = os.path.join(MODELS, "text-encoder", "1")
    os.makedirs(out, exist_ok=True)
    sample_ids, sample_mask = batchify([tok.encode("In the beginning God created the heaven and the earth.", MAX_LEN)])
    torch.onnx.export(
        model, (sample_ids, sample_mask), os.path.join(out, "model.onnx"), opset_version=17,
        input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state", "sentence_embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                      "last_hidden_state": {0: "batch", 1: "sequence"}, "sentence_embedding": {0: "batch"}})
    with open(os.path.join(MODELS, "text-encoder", "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    write_json(os.path.join(out, "metrics.json"), {
        **retrieval_metrics(recall10, mean_rank, held_out, STEPS),
        "architecture": f"{LAYERS}-layer pre-LN transformer, d={DIM}, {HEADS} heads, vocab {len(vocab)}",
    })
    write_json(os.path.join(MODELS, "text-encoder", "samples.json"), {
        "note": "Token ids from this repository's WordPiece vocab for a few held-out verses.",
        "texts": verses[-4:],
        "inputIds": [tok.encode(v, MAX_LEN) for v in verses[-4:]],
    })


if __name__ == "__main__":
    main()
    import profile_text_encoder
    profile_text_encoder.main()  # the reference profile for drift, from the same training split
