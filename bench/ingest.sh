#!/usr/bin/env bash
# Side-by-side ingest benchmark: `segue stats` vs polars (bench/polars_ingest.py) on a ~1 GB
# synthetic MSSD log, plain and gzipped; plus the peak memory of `segue sample`.
# Wall time and peak RSS come from /usr/bin/time -v; every command is capped by `timeout`.
#   SEGUE=target/release/segue RUNS=3 LIMIT_S=600 TARGET_MB=1000 bench/ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SEGUE=${SEGUE:-target/release/segue}
RUNS=${RUNS:-3}
LIMIT_S=${LIMIT_S:-600}
TARGET_MB=${TARGET_MB:-1000}
OUT=bench/out
CSV=$OUT/log_1gb.csv
GZ=$CSV.gz
RESULTS=$OUT/results.tsv

python3 -c 'import polars, numpy' 2>/dev/null || pip install --quiet polars numpy
[ -x "$SEGUE" ] || { echo "segue binary not found at $SEGUE (cargo build --release, or set SEGUE)" >&2; exit 1; }
mkdir -p "$OUT"

# (a) inputs, written to a temp name first so an interrupted run never leaves a truncated file
if [ ! -s "$CSV" ]; then
  python3 bench/make_log.py --out "$CSV.tmp" --target-mb "$TARGET_MB" --seed 1
  mv "$CSV.tmp" "$CSV"
fi
if [ ! -s "$GZ" ] || [ "$CSV" -nt "$GZ" ]; then
  gzip -6 -n -c "$CSV" > "$GZ.tmp"
  mv "$GZ.tmp" "$GZ"
fi
BYTES=$(stat -c %s "$CSV")  # uncompressed size of both files
MB=$(python3 -c "print($BYTES / 1e6)")

# measure TOOL FILE CMD...: run CMD under timeout + /usr/bin/time -v, append one line to $RESULTS:
# tool, file, wall seconds, peak RSS MB, then from JSON stdout (or -): records, sessions, tracks, seconds_total
measure() {
  local tool=$1 file=$2; shift 2
  local tv=$OUT/time.txt so=$OUT/stdout.txt rc=0
  timeout "$LIMIT_S" /usr/bin/time -v -o "$tv" "$@" > "$so" || rc=$?
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "TIMED OUT after ${LIMIT_S}s" >&2
    echo "FAILED (exit $rc): $*" >&2
    tail -n 20 "$so" >&2; grep -E "Command exited|Command terminated" "$tv" >&2 || true
    exit 1
  fi
  local wall rss counts
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($NF, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$tv")
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $NF * 1024 / 1e6 }' "$tv")
  counts=$(python3 -c 'import json, sys
try: d = json.load(sys.stdin)
except ValueError: d = {}
print(*(d.get(k, "-") for k in ("records", "sessions", "tracks", "seconds_total")), sep="\t")' < "$so")
  printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$file" "$wall" "$rss" "$counts" >> "$RESULTS"
  echo "  $tool $(basename "$file"): ${wall}s, ${rss} MB RSS" >&2
}

: > "$RESULTS"
for f in "$CSV" "$GZ"; do
  for i in $(seq "$RUNS"); do   # (b) interleaved runs, so both tools see similar cache/thermal state
    measure "segue stats" "$f" "$SEGUE" --quiet stats "$f" --json
    measure polars "$f" python3 bench/polars_ingest.py "$f" --bytes-uncompressed "$BYTES"
  done
  # (c) peak memory while sampling
  measure "segue sample" "$f" "$SEGUE" --quiet sample --logs "$f" --records 2000000 --seed 1 \
    --out "$OUT/sample_$(basename "$f" | tr . _)" --force
done

# (d) markdown table (medians over runs) plus a count cross-check
python3 - "$RESULTS" "$MB" <<'EOF' | tee "$OUT/ingest_table.md"
import sys, os, statistics
from collections import defaultdict
path, mb = sys.argv[1], float(sys.argv[2])
runs = defaultdict(list)
for line in open(path):
    tool, f, wall, rss, *counts = line.rstrip("\n").split("\t")
    runs[tool, f].append((float(wall), float(rss), tuple(counts[:3]), counts[3]))
print(f"Input: {mb:.0f} MB uncompressed; MB = 1e6 bytes; MB/s = uncompressed MB / median wall seconds "
      "(process start to exit); RSS = max over runs; self-timed = the tool's own seconds_total, if it reports one.\n")
print("| tool | file | runs | median s | MB/s | peak RSS MB | self-timed s | records | sessions | tracks |")
print("|---|---|---|---|---|---|---|---|---|---|")
for (tool, f), rs in runs.items():
    med = statistics.median(r[0] for r in rs)
    selft = [float(r[3]) for r in rs if r[3] != "-"]
    selft = f"{statistics.median(selft):.2f}" if selft else "-"
    print(f"| {tool} | {os.path.basename(f)} | {len(rs)} | {med:.2f} | {mb / med:.0f} | {max(r[1] for r in rs):.0f} "
          f"| {selft} | {' | '.join(rs[-1][2])} |")
for f in dict.fromkeys(f for _, f in runs):
    a, b = runs.get(("segue stats", f)), runs.get(("polars", f))
    if a and b:
        ok = a[-1][2] == b[-1][2]
        print(f"\n{os.path.basename(f)}: segue vs polars records/sessions/tracks {'agree' if ok else 'DIFFER'}")
EOF
