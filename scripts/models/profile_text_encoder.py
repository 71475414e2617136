"""Writes the `text-encoder` reference profile (no torch needed: the shipped vocabulary and Debian's bible-kjv).

models/text-encoder/1/profile.json: one feature, the token ids of `input_ids`, binned into ten bands holding equal
shares of the training verses' tokens ([CLS] and [SEP] included, as clients send them), so the drift detection's
PSI rises when live text uses the vocabulary differently (another language, another register, more unknown words).
Uses the shipped vocab.txt and the same training split as train_text_encoder.py, which calls this after training.
"""
import json
import os

from bible import load_verses
from wordpiece import WordPiece

MODELS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "models"))
MAX_LEN, HELD_OUT, BANDS = 48, 500, 10


def main() -> None:
    folder = os.path.join(MODELS, "text-encoder")
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
        vocab = [line.rstrip("\n") for line in f]
    tok = WordPiece(vocab)
    verses = load_verses()
    ids = sorted(i for v in verses[: -HELD_OUT - 1] for i in tok.encode(v, MAX_LEN))
    edges = []
    for b in range(1, BANDS):
        edge = ids[len(ids) * b // BANDS] + 0.5
        if not edges or edge > edges[-1]:
            edges.append(edge)
    counts = [0] * (len(edges) + 1)
    for i in ids:
        counts[sum(1 for e in edges if i > e)] += 1
    profile = {"input": "input_ids", "rows": len(ids), "features": [{
        "name": "input_ids", "edges": edges, "proportions": [round(c / len(ids), 6) for c in counts]}]}
    with open(os.path.join(folder, "1", "profile.json"), "w", encoding="utf-8") as f:
        json.dump(profile, f, indent=2)
        f.write("\n")
    print(f"text-encoder: profile of {len(ids)} training tokens in {len(counts)} bands: {profile['features'][0]['proportions']}")


if __name__ == "__main__":
    main()
