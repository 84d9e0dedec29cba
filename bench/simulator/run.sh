#!/usr/bin/env bash
# The simulator benchmark at the reference study's scale: a synthetic world whose training split
# holds about 2 million logged transitions (the simulator's keys), an encoder trained for 2
# epochs with an 18-d latent (so a key is 18 + 30 = 48-d, the size of the issue's reference
# figure), then `segue bench simulator` (exact and HNSW) and bench/ann/peers.py (faiss HNSW) on
# the same exported keys.
#
# Usage: bench/simulator/run.sh DIR [STEP...]
#   STEP: world sample encode bench peers (default: all, in that order). A step whose output
#   already exists is skipped, so the run can go step by step.
# Needs `pip install faiss-cpu numpy` for the peers step (PYTHON picks the interpreter).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="$1"
shift
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(world sample encode bench peers)
segue="${SEGUE:-./target/release/segue}"
python="${PYTHON:-python3}"
queries="${QUERIES:-2000}"
mkdir -p "$dir"
for step in "${steps[@]}"; do
  case "$step" in
    world)
      # 161,000 sessions of 16.6 plays on average: 0.8 × 161,000 × 15.6 ≈ 2.0M training transitions.
      [ -d "$dir/world" ] || "$segue" synth --sessions 161000 --tracks 50000 --files 4 --seed 6 \
        --reference-users 0 --quiet --out "$dir/world" ;;
    sample)
      # More records than the world holds, so the sample is the whole world.
      [ -d "$dir/sample" ] || "$segue" sample --logs "$dir/world" --tracks "$dir/world" \
        --records 4000000 --seed 6 --quiet --out "$dir/sample" ;;
    encode)
      [ -d "$dir/encoder" ] || "$segue" encode --structure a --sample "$dir/sample" \
        --epochs 2 --latent 18 --threads 2 --quiet --out "$dir/encoder" ;;
    bench)
      # The table goes to stdout, one JSON line per row to stderr.
      if [ ! -f "$dir/bench.txt" ]; then
        "$segue" bench simulator --sample "$dir/sample" --encoder "$dir/encoder" \
          --queries "$queries" --ef 32,64,128 --export "$dir/keys" --quiet 2>&1 \
          | tee "$dir/bench.txt.part"
        mv "$dir/bench.txt.part" "$dir/bench.txt"
      fi ;;
    peers)
      # One thread, 30 neighbours like the simulator; exact truth from faiss IndexFlatL2.
      if [ ! -f "$dir/peers.txt" ]; then
        "$python" bench/ann/peers.py "$dir/keys" --dim 48 --k 30 --threads 1 \
          --backends faiss-hnsw --ef 32,64,128 2>&1 | tee "$dir/peers.txt.part"
        mv "$dir/peers.txt.part" "$dir/peers.txt"
      fi ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
