#!/usr/bin/env bash
# Load test of `segue serve` with a 300,000-track catalogue, over loopback, on this machine.
# Builds (once, into bench/out/serve) a synthetic world whose sample plays over 300k distinct tracks,
# a small encoder and a briefly trained DDPG run; then serves it with an HNSW track index and
# drives it with `segue bench serve` (8 keep-alive connections, 60 s), reporting requests/s,
# round-trip and in-server latency, and the server's memory before and after.
#   bash bench/serve/run.sh [seconds=60] [connections=8]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
conns=${2:-8}
seg=target/release/segue
out=bench/out/serve
mkdir -p "$out"
if [ ! -f "$out/run/weights.safetensors" ]; then
  $seg --quiet synth --sessions 300000 --tracks 330000 --files 4 --seed 1 --reference-users 0 --out "$out/world" --force
  $seg --quiet sample --logs "$out/world" --tracks "$out/world" --records 6000000 --seed 1 --out "$out/sample" --force
  printf '[encoder]\nhidden = 32\nlatent = 16\nmax_epochs = 1\n' > "$out/enc.toml"
  $seg --quiet encode --structure a --sample "$out/sample" --config "$out/enc.toml" --out "$out/enc" --force
  printf '[agent]\nbatch = 64\nrounds = 1\nenvs = 8\nupdates_per_step = 1\nwarmup = 0\nlogged_transitions = false\neval_every = 0\neval_episodes = 8\n[agent.index]\nkind = "hnsw"\n[simulator]\nepisodes = 8\n' > "$out/agent.toml"
  $seg --quiet train --sample "$out/sample" --encoder "$out/enc" --config "$out/agent.toml" --out "$out/run" --force
fi
# A history: the first 5 plays of the sample's log.
(zcat "$out/sample/log_sample.csv.gz" || true) | head -6 > "$out/history.csv"
$seg --quiet serve --run "$out/run" --index hnsw --addr 127.0.0.1:0 > "$out/serve.txt" 2> "$out/serve.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until grep -q "listening on" "$out/serve.txt" 2>/dev/null; do sleep 1; done
addr=$(sed -n 's/^listening on //p' "$out/serve.txt")
cat "$out/serve.err"
curl -s "http://$addr/v1/model" | python3 -c 'import json,sys; m=json.load(sys.stdin); print("catalogue", m["catalogue"], "tracks")'
$seg bench serve --addr "$addr" --history "$out/history.csv" --connections 2 --seconds 5 > /dev/null  # warm-up
$seg bench serve --addr "$addr" --history "$out/history.csv" --connections "$conns" --seconds "$secs" --pid "$pid"
