#!/usr/bin/env bash
# Regenerates every shipped model in models/ from data that Debian packages ship. Only needed to change a model:
# the .onnx files are committed, and the build, tests and CI never run this.  Takes about 45 minutes on 2 cores
# (the sentence encoder most of it).
set -euo pipefail
cd "$(dirname "$0")"
if ! /usr/bin/python3 -c 'import torch, onnx, sklearn' 2>/dev/null || ! command -v bible >/dev/null; then
  apt-get update
  apt-get install -y python3-torch python3-sklearn python3-onnx python3-numpy
  apt-get install -y --no-install-recommends libopenblas0-pthread wamerican bible-kjv-text bible-kjv
fi
# Debian's interpreter, not a python3 earlier on PATH that cannot see Debian's packages.
/usr/bin/python3 train_digits.py
/usr/bin/python3 train_text_encoder.py
/usr/bin/python3 train_sentence_encoder.py   # the MiniLM-shaped encoder: about 35 minutes on 2 cores
/usr/bin/python3 train_chat_lm.py
