"""Trains the two versions of the `digits` classifier on scikit-learn's bundled 8x8 digits set.

Version 1: a linear softmax classifier (few steps).  Version 2: an MLP 64-128-64-10.
Both take `pixels` FP32 [batch, 64] (pixel values scaled to 0..1) and return `logits` and
`probabilities` FP32 [batch, 10].  Test accuracy on a fixed held-out split is written beside each
version in metrics.json, and a few held-out samples go to models/digits/samples.json.
"""
import os

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from common import MODELS, seed_everything, write_json

SEED = 1797


class Classifier(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, pixels):
        logits = self.body(pixels)
        return logits, torch.softmax(logits, dim=-1)


def build(version: int) -> nn.Module:
    if version == 1:
        return Classifier(nn.Linear(64, 10))
    return Classifier(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)))


def train(version: int, steps: int, x_train, y_train, x_test, y_test):
    seed_everything(SEED + version)
    model = build(version)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3 if version == 2 else 5e-3)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(SEED + version)
    for _ in range(steps):
        idx = torch.randint(0, x_train.shape[0], (64,), generator=g)
        logits, _ = model(x_train[idx])
        loss = loss_fn(logits, y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test)[0].argmax(-1) == y_test).float().mean().item()
    return model, accuracy


def export(model: nn.Module, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(
        model, torch.zeros(1, 64), path, opset_version=17,
        input_names=["pixels"], output_names=["logits", "probabilities"],
        dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}, "probabilities": {0: "batch"}})


def main() -> None:
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=SEED, stratify=y)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    xv, yv = torch.from_numpy(x_test), torch.from_numpy(y_test)
    for version, steps in ((1, 150), (2, 3000)):
        model, accuracy = train(version, steps, xt, yt, xv, yv)
        export(model, os.path.join(MODELS, "digits", str(version), "model.onnx"))
        write_json(os.path.join(MODELS, "digits", str(version), "metrics.json"), {
            "dataset": "sklearn.datasets.load_digits, 25% stratified hold-out (random_state=1797)",
            "testSamples": int(len(y_test)),
            "testAccuracy": round(accuracy, 4),
            "trainingSteps": steps,
            "architecture": "linear 64-10" if version == 1 else "MLP 64-128-64-10 (ReLU)",
        })
        print(f"digits v{version}: test accuracy {accuracy:.4f}")
    write_json(os.path.join(MODELS, "digits", "samples.json"), {
        "note": "First 32 held-out test images (never trained on): pixels scaled to 0..1, with their labels.",
        "pixels": [[round(float(v), 4) for v in row] for row in x_test[:32]],
        "labels": [int(v) for v in y_test[:32]],
    })


if __name__ == "__main__":
    main()
    import profile_digits
    profile_digits.main()  # reference profiles (drift) and the held-out set, from the same split
