#!/usr/bin/env bash
# Sampling throughput: the embedded run (`segue sample`, 1 and 2 threads) against the Spark
# driver on a loopback standalone cluster of 1 and 2 one-core workers, on the same logs. Every
# run's sample folder is checked identical to the embedded one. Prints a markdown table.
#   spark/throughput.sh LOGS_DIR RECORDS [OUT_DIR]
# Make a ~2 GB, 20-file log set with:
#   segue synth --sessions 700000 --tracks 200000 --files 20 --seed 21 --out LOGS_DIR --reference-users 0
set -euo pipefail
cd "$(dirname "$0")/.."
source spark/env.sh
logs=${1:?logs folder}; records=${2:?target records}; out=${3:-$(mktemp -d)}
SEGUE=${SEGUE:-$ROOT/target/release/segue}
mkdir -p "$out"
bytes=$(find "$logs" -name 'log_*.csv*' -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "$logs" -name 'log_*.csv*' | wc -l)
rows=()
row() { # name seconds map_seconds
  rows+=("| $1 | $(printf %.1f "$2") | $(printf %.1f "$3") | $(python3 -c "print(f'{$bytes/1e6/$2:.0f}')") |")
}
now() { date +%s.%N; }
for t in 1 2; do
  start=$(now)
  "$SEGUE" --quiet -v sample --logs "$logs" --records "$records" --seed 0 --threads $t --out "$out/embedded_$t" --force \
    >/dev/null 2>"$out/embedded_$t.log"
  s=$(python3 -c "print($(now) - $start)")
  # The map's time, from the log line "scanned N files in 4.12s" (or "812.3ms").
  m=$(python3 - "$out/embedded_$t.log" <<'PY'
import re, sys
t = re.search(r"scanned \d+ files in ([\d.]+)(ms|s)", open(sys.argv[1]).read())
print(float(t[1]) / (1000 if t[2] == "ms" else 1))
PY
)
  row "embedded, $t thread(s)" "$s" "$m"
done
cmp -s "$out/embedded_1/sample.bin" "$out/embedded_2/sample.bin" || { echo "thread counts disagree" >&2; exit 1; }
for w in 1 2; do
  for read in local shared spark; do
    [ $w = 1 ] && [ $read != local ] && continue
    extra=()
    if [ $read = shared ]; then rm -rf "$out/parts"; extra=(--partials "$out/parts"); fi
    spark/cluster.sh start $w 2g >/dev/null
    start=$(now)
    "$PYSPARK_PYTHON" spark/segue_spark.py --master "$MASTER_URL" --conf spark.executor.memory=1g \
      --conf spark.scheduler.minRegisteredResourcesRatio=1.0 --conf spark.ui.showConsoleProgress=false \
      --segue "$SEGUE" --read "${read/shared/local}" "${extra[@]}" --logs "$logs" --records "$records" --seed 0 --out "$out/spark_${w}_$read" \
      --force --report "$out/spark_${w}_$read.json" >/dev/null 2>"$out/spark_${w}_$read.err"
    s=$(python3 -c "print($(now) - $start)")
    spark/cluster.sh stop
    m=$(python3 -c "import json; print(json.load(open('$out/spark_${w}_$read.json'))['map_s'])")
    for f in log_sample.csv.gz sample.bin splits.csv; do
      cmp -s "$out/embedded_1/$f" "$out/spark_${w}_$read/$f" || { echo "spark $w $read: $f differs" >&2; exit 1; }
    done
    case $read in
      local) how="read by path, partials sent to the driver" ;;
      shared) how="read by path, partials written to a shared folder" ;;
      spark) how="read by Spark, partials sent to the driver" ;;
    esac
    row "Spark, $w worker(s), $how" "$s" "$m"
  done
done
echo "$files files, $(python3 -c "print(f'{$bytes/1e9:.2f}')") GB, $records records sampled; every sample identical to the embedded run's"
echo
echo "| run | wall s | map s | MB/s (wall) |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
