#!/usr/bin/env bash
# Training throughput of the structure-A history autoencoder: segue (the pass `segue encode`
# trains with: plain vectors on the CPU) and the same model in PyTorch (torch_encoder.py), side by side, 1 and 2 threads, interleaved.
# Needs `pip install torch`. Usage: bench/encoder/run.sh [updates]
set -euo pipefail
cd "$(dirname "$0")/../.."
updates="${1:-200}"
cargo build --release --quiet
for threads in 1 2; do
  for decoder in dense lstm; do
    for run in 1 2; do
      ./target/release/segue bench encoder --threads "$threads" --decoder "$decoder" --updates "$updates" 2>&1 >/dev/null | sed "s/^/segue   /"
      python3 bench/encoder/torch_encoder.py --threads "$threads" --decoder "$decoder" --hidden 96 --latent 96 --updates "$updates" | sed "s/^/pytorch /"
    done
  done
done
