"""Trains `chat-lm`: a small character-level causal language model for /v1/chat/completions.

A GRU over characters of the King James Bible (Debian's bible-kjv package, copyright expired): embedding 64 ->
GRU 256 -> linear over the character vocabulary.  Exported for step-by-step decoding: inputs `input_ids` INT64
[batch, seq] and `state` FP32 [batch, 256] (the recurrent state), outputs `logits` FP32 [batch, vocab] (of the last
position) and `state_out` FP32 [batch, 256].  A prompt is read in one call (seq = its length) and every generated
character costs one call with seq = 1, so each step is cheap and concurrent generations batch together on dim 0.
Tokens are characters; `vocab.json` lists them (0 = padding, 1 = beginning of text, 2 = end of text).  The held-out
metric is the per-character cross entropy on 500 held-out verses (bits per character).
"""
import math
import os
import random
import time

import numpy as np
import torch
from torch import nn

from common import MODELS, seed_everything, write_json
from train_text_encoder import load_verses

SEED, EMBED, HIDDEN, MAX_LEN, STEPS, BATCH = 20261124, 64, 256, 96, 1500, 32
PAD, BOS, EOS = 0, 1, 2


class CharLm(nn.Module):
    def __init__(self, vocab_size: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, EMBED, padding_idx=PAD)
        self.gru = nn.GRU(EMBED, HIDDEN, batch_first=True)
        self.out = nn.Linear(HIDDEN, vocab_size)

    def forward(self, ids, state=None):
        hidden, last = self.gru(self.embed(ids), state)
        return self.out(hidden), last


class Step(nn.Module):
    """The exported contract: batch on dim 0 of every input and output."""

    def __init__(self, lm: CharLm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, state):
        hidden, last = self.lm.gru(self.lm.embed(input_ids), state.unsqueeze(0).contiguous())
        return self.lm.out(hidden[:, -1, :]), last.squeeze(0)


def encode(text: str, index: dict) -> list:
    return [BOS] + [index[c] for c in text if c in index][: MAX_LEN - 2] + [EOS]


def batches(verses: list, index: dict, rng: random.Random):
    while True:
        chosen = [encode(rng.choice(verses), index) for _ in range(BATCH)]
        width = max(len(c) for c in chosen)
        ids = torch.full((BATCH, width), PAD, dtype=torch.long)
        for i, c in enumerate(chosen):
            ids[i, : len(c)] = torch.tensor(c)
        yield ids


def cross_entropy_bits(model: CharLm, verses: list, index: dict) -> float:
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for verse in verses:
            ids = torch.tensor([encode(verse, index)])
            logits, _ = model(ids[:, :-1])
            loss = nn.functional.cross_entropy(logits[0], ids[0, 1:], reduction="sum")
            total += loss.item()
            count += ids.shape[1] - 1
    model.train()
    return total / count / math.log(2)


def main() -> None:
    seed_everything(SEED)
    verses = load_verses()
    rng = random.Random(SEED)
    rng.shuffle(verses)
    held_out, train = verses[:500], verses[500:]
    chars = sorted({c for v in train for c in v})
    vocab = ["<pad>", "<bos>", "<eos>"] + chars
    index = {c: i for i, c in enumerate(vocab) if i > EOS}

    model = CharLm(len(vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, STEPS)
    stream = batches(train, index, rng)
    started = time.time()
    for step in range(1, STEPS + 1):
        ids = next(stream)
        logits, _ = model(ids[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(vocab)), ids[:, 1:].reshape(-1), ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 50 == 0:
            print(f"step {step}: loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True)

    bits = cross_entropy_bits(model, held_out, index)
    print(f"held-out: {bits:.3f} bits per character (uniform: {math.log2(len(vocab)):.2f})")

    folder = os.path.join(MODELS, "chat-lm")
    os.makedirs(os.path.join(folder, "1"), exist_ok=True)
    model.eval()
    step_model = Step(model)
    torch.onnx.export(
        step_model,
        (torch.tensor([[BOS, index["I"]]]), torch.zeros(1, HIDDEN)),
        os.path.join(folder, "1", "model.onnx"),
        input_names=["input_ids", "state"],
        output_names=["logits", "state_out"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "state": {0: "batch"}, "logits": {0: "batch"}, "state_out": {0: "batch"}},
        opset_version=14,
    )
    write_json(os.path.join(folder, "vocab.json"), vocab)
    write_json(os.path.join(folder, "1", "metrics.json"), {
        "heldOutVerses": len(held_out),
        "bitsPerCharacter": round(bits, 4),
        "uniformBitsPerCharacter": round(math.log2(len(vocab)), 4),
        "steps": STEPS,
        "seed": SEED,
    })


if __name__ == "__main__":
    main()
