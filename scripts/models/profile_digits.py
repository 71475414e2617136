"""Writes the `digits` reference profiles and held-out set (numpy and scikit-learn only; no training needed).

models/digits/<v>/profile.json: per pixel, the share of *training* images in each of 9 bins (edges halfway between
the 17 grey levels, grouped in pairs; bin 0 is blank), which the server's drift detection compares live inputs with
(population stability index).  models/digits/heldout.json: every held-out test image with its label, for
benchmarks that send feedback (accuracy per version) and for tests.  train_digits.py calls this after training;
it can also run alone, since it uses the same split.
"""
import json
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

SEED = 1797
MODELS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "models"))
EDGES = [0.03125, 0.15625, 0.28125, 0.40625, 0.53125, 0.65625, 0.78125, 0.90625]


def split():
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=SEED, stratify=y)


def profile(x_train) -> dict:
    features = []
    for f in range(x_train.shape[1]):
        bins = np.searchsorted(np.array(EDGES), x_train[:, f], side="left")
        counts = np.bincount(bins, minlength=len(EDGES) + 1)
        features.append({
            "name": f"pixels[{f}]",
            "edges": EDGES,
            "proportions": [round(float(c) / len(x_train), 6) for c in counts],
        })
    return {"input": "pixels", "rows": int(len(x_train)), "features": features}


def write(path: str, value, indent=None) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=indent, separators=None if indent else (",", ":"))
        f.write("\n")


def main() -> None:
    x_train, x_test, _, y_test = split()
    reference = profile(x_train)
    for version in ("1", "2"):
        write(os.path.join(MODELS, "digits", version, "profile.json"), reference)
    write(os.path.join(MODELS, "digits", "heldout.json"), {
        "note": "Every held-out test image (25% stratified split, random_state=1797; never trained on), pixels 0..1, with labels.",
        "pixels": [[round(float(v), 4) for v in row] for row in x_test],
        "labels": [int(v) for v in y_test],
    })
    print(f"digits: profiles from {len(x_train)} training images, {len(y_test)} held-out images")


if __name__ == "__main__":
    main()
