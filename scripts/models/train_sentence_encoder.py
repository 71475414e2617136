"""Trains `sentence-encoder`: a sentence encoder of all-MiniLM-L6-v2's shape, the benchmark's compute-bound model.

Shape: 6 transformer layers, hidden 384, 12 heads, intermediate 1536, GELU, 128 positions; the vocabulary is the
shipped text-encoder's WordPiece (4,677 tokens, so the embedding table is 1.8 M of the 12.6 M parameters instead
of MiniLM's 11.7 M). The I/O contract is the text-encoder's (and sentence-transformers'): `input_ids` and
`attention_mask` INT64 [batch, seq] in; `last_hidden_state` FP32 [batch, seq, 384] and `sentence_embedding` FP32
[batch, 384] (masked mean pooling, L2-normalised) out. Data and objective are the text-encoder's (King James Bible
from Debian's bible-kjv, masked words plus an in-batch contrastive loss between adjacent verses); the held-out
metric is the same next-verse retrieval among 500 verses, so the two models' quality can be compared.

The weights ship as float16 initializers, each widened by a Cast node that ONNX Runtime folds into a float32
constant when the session loads: half the file (about 25 MB instead of 50 MB), float32 arithmetic when serving.
"""
import os
import time

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from bible import load_verses
from common import MODELS, seed_everything, write_json
from train_text_encoder import Encoder, batchify, losses, next_verse_retrieval, retrieval_metrics
from wordpiece import WordPiece

SEED, DIM, HEADS, LAYERS, FFN, MAX_LEN = 20261130, 384, 12, 6, 1536, 40
STEPS, BATCH, LR, WARMUP = int(os.environ.get("AIFLEET_ENCODER_STEPS", "600")), 32, 4e-4, 60
NAME = "sentence-encoder"


def half_weights(path: str) -> None:
    """Stores every float32 initializer of more than 1,024 values as float16 plus a Cast back to float32."""
    model = onnx.load(path)
    graph, casts = model.graph, []
    for init in list(graph.initializer):
        if init.data_type != onnx.TensorProto.FLOAT or int(np.prod(init.dims)) <= 1024:
            continue
        values = numpy_helper.to_array(init)
        half = numpy_helper.from_array(values.astype(np.float16), init.name + "_fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=init.name + "_widen"))
    for i, node in enumerate(casts):
        graph.node.insert(i, node)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main() -> None:
    seed_everything(SEED)
    verses = load_verses()
    with open(os.path.join(MODELS, "text-encoder", "vocab.txt"), encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    tok = WordPiece(vocab)
    encoded = [tok.encode(v, MAX_LEN) for v in verses]
    held_out = 500
    train_ids, test_ids = encoded[: -held_out - 1], encoded[-held_out - 1:]
    model, head = Encoder(len(vocab), DIM, HEADS, LAYERS, FFN, "gelu"), nn.Linear(DIM, len(vocab))
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / WARMUP) * max(0.05, 1 - s / STEPS))
    g = torch.Generator().manual_seed(SEED)
    began = time.time()
    for step in range(STEPS):
        mlm, contrast = losses(model, head, train_ids, g, BATCH)
        loss = mlm + contrast
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        schedule.step()
        if step % 25 == 0:
            print(f"step {step} ({time.time() - began:.0f} s): mlm {mlm.item():.3f} contrastive {contrast.item():.3f}",
                  flush=True)
    recall10, mean_rank = next_verse_retrieval(model, test_ids)
    print(f"held-out next-verse retrieval among {held_out}: recall@10 {recall10:.4f} (chance {10 / held_out:.4f}), "
          f"mean rank {mean_rank:.1f} (chance {(held_out + 1) / 2:.1f})")

    folder = os.path.join(MODELS, NAME)
    out = os.path.join(folder, "1")
    os.makedirs(out, exist_ok=True)
    sample_ids, sample_mask = batchify([tok.encode("In the beginning God created the heaven and the earth.", MAX_LEN)])
    path = os.path.join(out, "model.onnx")
    torch.onnx.export(
        model, (sample_ids, sample_mask), path, opset_version=17,
        input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state", "sentence_embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                      "last_hidden_state": {0: "batch", 1: "sequence"}, "sentence_embedding": {0: "batch"}})
    half_weights(path)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    parameters = sum(p.numel() for p in model.parameters())
    write_json(os.path.join(out, "metrics.json"), {
        **retrieval_metrics(recall10, mean_rank, held_out, STEPS),
        "trainingMinutes": round((time.time() - began) / 60, 1),
        "parameters": parameters,
        "architecture": f"{LAYERS}-layer pre-LN transformer, hidden {DIM}, {HEADS} heads, intermediate {FFN}, GELU, "
                        f"vocab {len(vocab)} (all-MiniLM-L6-v2's shape but for the vocabulary)",
        "weights": "float16 initializers widened to float32 by Cast nodes folded at load",
    })
    write_json(os.path.join(folder, "samples.json"), {
        "note": "Token ids from this repository's WordPiece vocab for a few held-out verses.",
        "texts": verses[-4:],
        "inputIds": [tok.encode(v, MAX_LEN) for v in verses[-4:]],
    })


if __name__ == "__main__":
    main()
