#!/usr/bin/env bash
# A long fuzz run of the log reader (stable Rust, no nightly): EXECS executions (default 10
# million: 5 million mutated inputs, each read strict and with --skip-bad-rows), seeded, on
# every core. Crashing inputs land in runs/fuzz/. Usage: bash bench/fuzz/run.sh [EXECS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
execs=${1:-10000000}
seed=${2:-1}
cargo build --release --example fuzz_parser
/usr/bin/time -v target/release/examples/fuzz_parser "$((execs / 2))" "$seed" 2>&1 \
  | grep -E 'executions|crash|Elapsed|Maximum resident'
