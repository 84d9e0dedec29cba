#!/usr/bin/env bash
# Python environment steps per second against a NumPy/scikit-learn kNN peer, and the Rust-only
# simulator rate (`segue bench simulator`), on one sample and encoder run.
# Usage: bench/python/run.sh SAMPLE_DIR ENCODER_DIR OUT_DIR [SECONDS]
# Needs the package (`pip install ./python`) and scikit-learn in PYTHON's environment.
set -euo pipefail
cd "$(dirname "$0")/../.."
sample="$1" encoder="$2" out="$3" seconds="${4:-5}"
segue="${SEGUE:-./target/release/segue}"
python="${PYTHON:-python3}"
mkdir -p "$out"
"$segue" bench simulator --sample "$sample" --encoder "$encoder" --queries 2000 --ef 64 \
  --export "$out/keys" --quiet 2>"$out/rust.jsonl" | tee "$out/rust.txt"
"$segue" export --sample "$sample" --encoder "$encoder" -o "$out/train.npz" --split train
"$python" bench/python/env_steps.py "$sample" "$encoder" "$out/keys" "$out/train.npz" "$seconds" \
  | tee "$out/python.jsonl"
