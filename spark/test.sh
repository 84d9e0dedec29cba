#!/usr/bin/env bash
# The distributed sample on a real Spark standalone cluster (a master and two one-core workers on
# loopback), checked against the embedded run of `segue sample` on the same generated logs:
#   1. executors read the files by path: the sample folder is identical byte for byte;
#   2. Spark reads the files and pipes them in, the binary shipped with addFile: identical, but
#      for the file names, which Spark qualifies (file:/...);
#   3. a malformed file fails the job with segue's message naming the file and line;
#   4. worker 1 is killed (kill -9, with its executor) while it runs a map task: Spark reruns the
#      lost task on worker 2 and the sample folder is still identical byte for byte.
# Needs spark/setup.sh first; uses target/release/segue (building it when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source spark/env.sh
SEGUE=${SEGUE:-$ROOT/target/release/segue}
[ -x "$SEGUE" ] || cargo build --release
work=$(mktemp -d)
cleanup() { spark/cluster.sh stop || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "spark test: FAIL: $*" >&2; exit 1; }

# Eight log files, half of them gzip, of different sizes.
"$SEGUE" --quiet synth --sessions 16000 --tracks 3000 --files 8 --seed 11 --out "$work/world" --reference-users 0 >/dev/null
for f in "$work"/world/log_[1357]_*.csv; do gzip "$f"; done
rm -f "$work"/world/world.*
records=60000; seed=4
"$SEGUE" --quiet sample --logs "$work/world" --records $records --seed $seed --out "$work/embedded" >/dev/null

spark/cluster.sh start 2 1g
conf=(--master "$MASTER_URL" --conf spark.executor.memory=512m --conf spark.executor.cores=1
      --conf spark.scheduler.minRegisteredResourcesRatio=1.0 --conf spark.ui.showConsoleProgress=false
      --conf spark.ui.enabled=false)
driver() { "$PYSPARK_PYTHON" spark/segue_spark.py "${conf[@]}" --logs "$work/world" --records $records --seed $seed "$@"; }
same() { # same FOLDER_A FOLDER_B [files...]
  local a=$1 b=$2; shift 2
  for f in "$@"; do cmp -s "$a/$f" "$b/$f" || fail "$f differs between $a and $b"; done
}
all=(log_sample.csv.gz sample.bin splits.csv stats.json sample.json)

# 1. Executors read by path.
driver --segue "$SEGUE" --out "$work/local" --report "$work/local.json" 2>"$work/local.err" ||
  { tail -20 "$work/local.err"; fail "the driver failed"; }
same "$work/embedded" "$work/local" "${all[@]}"
echo "spark test: read by path: identical to the embedded run"

# 2. Spark reads the files; the binary travels with the job.
driver --segue "$SEGUE" --ship --read spark --out "$work/via_spark" 2>"$work/via_spark.err" ||
  { tail -20 "$work/via_spark.err"; fail "the driver failed"; }
same "$work/embedded" "$work/via_spark" log_sample.csv.gz sample.bin splits.csv
python3 - "$work/embedded/stats.json" "$work/via_spark/stats.json" <<'PY' || fail "stats.json differs beyond file names"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for f in b["files"]:
    f["path"] = f["path"].removeprefix("file:")
sys.exit(a != b)
PY
echo "spark test: read by Spark: identical to the embedded run (file names qualified)"

# 3. Bad input: a field that does not parse fails the job (after Spark's retries) with segue's
#    message naming the file, the line and the column, and nothing is written.
mkdir "$work/bad"
cp "$work"/world/log_0_*.csv "$work/bad/"
sed -i '5s/,true,/,maybe,/' "$work"/bad/log_0_*.csv
if driver --segue "$SEGUE" --logs "$work/bad" --out "$work/bad_out" >/dev/null 2>"$work/bad.err"; then
  fail "a malformed log was sampled"
fi
grep -q "error: a map task failed" "$work/bad.err" && grep -q 'log_0_[^:]*:5: column `' "$work/bad.err" ||
  { tail -5 "$work/bad.err"; fail "the driver's error does not name the file and line"; }
[ ! -e "$work/bad_out" ] || fail "a failed job left an output folder"
echo "spark test: bad input: $(grep -o 'error: a map task.*' "$work/bad.err" | head -1 | cut -c1-160)"

# 4. A worker lost mid-job. Each map task first sleeps 3 s so that the kill lands during one.
cat > "$work/slow-segue" <<SH
#!/usr/bin/env bash
for a in "\$@"; do [ "\$a" = sample-map ] && sleep 3; done
exec "$SEGUE" "\$@"
SH
chmod +x "$work/slow-segue"
driver --segue "$work/slow-segue" --out "$work/killed" --report "$work/killed.json" \
  >"$work/killed.out" 2>"$work/killed.err" &
job=$!
victim=""
for _ in $(seq 1 240); do
  for p in $(pgrep -f "slow-segue --quiet sample-map" || true); do
    if readlink "/proc/$p/cwd" 2>/dev/null | grep -q "/work/w1/"; then victim=$p; break 2; fi
  done
  sleep 0.25
done
[ -n "$victim" ] || { wait $job || true; tail -20 "$work/killed.err"; fail "no map task was seen on worker 1"; }
spark/cluster.sh kill-worker 1
wait $job || { tail -20 "$work/killed.err"; fail "the driver failed after the worker was killed"; }
python3 - "$work/killed.json" <<'PY' || fail "no task was rerun"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"spark test: worker 1 killed; files rerun: {r['rerun_files']}; attempts:",
      [t["attempt"] for t in r["tasks"]])
sys.exit(not r["rerun_files"])
PY
same "$work/embedded" "$work/killed" "${all[@]}"
echo "spark test: worker killed mid-job: identical to the embedded run"
echo "spark test: 4 passed, 0 failed"
