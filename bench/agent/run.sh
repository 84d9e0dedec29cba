#!/usr/bin/env bash
# DDPG / TD3 updates per second, segue (plain vectors) and PyTorch side by side in one run:
# batch 256, two hidden layers of 256, state 96 (the encoder's latent), action 32, 1 and 2
# threads.
# PyTorch runs twice: as usual (the actor's backward also computes the critic's weight
# gradients) and with --freeze-critic (as segue does: the critic enters the actor's loss as
# constants). Needs `python3 -m pip install torch` (CPU) and a release build.
#   bash bench/agent/run.sh [seconds=10]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
seg=target/release/segue
uptime
for threads in 1 2; do
  for algo in ddpg td3; do
    $seg bench agent --algo "$algo" --threads "$threads" --seconds "$secs"
    python3 bench/agent/torch_ddpg.py --algo "$algo" --threads "$threads" --seconds "$secs" | head -2
    python3 bench/agent/torch_ddpg.py --algo "$algo" --threads "$threads" --seconds "$secs" --freeze-critic | head -2
  done
done
