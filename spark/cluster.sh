#!/usr/bin/env bash
# A Spark standalone cluster on loopback for tests and benchmarks: one master and N workers of
# one core each. The pip package of PySpark has no start-master.sh/start-worker.sh, so the
# daemons start through sbin/spark-daemon.sh.
#   spark/cluster.sh start [WORKERS] [WORKER_MEMORY]   (default 2 workers, 1g each)
#   spark/cluster.sh stop
#   spark/cluster.sh kill-worker I                     (kill -9 worker I and its executors)
set -euo pipefail
source "$(dirname "$0")/env.sh"
cmd=${1:?start, stop or kill-worker}
daemon=$SPARK_HOME/sbin/spark-daemon.sh
workers_alive() {
  curl -s "http://127.0.0.1:$SEGUE_SPARK_UI/json/" 2>/dev/null |
    python3 -c 'import json,sys; print(sum(w["state"]=="ALIVE" for w in json.load(sys.stdin)["workers"]))' 2>/dev/null || echo 0
}
case $cmd in
start)
  n=${2:-2}; mem=${3:-1g}
  mkdir -p "$SPARK_LOG_DIR" "$SPARK_PID_DIR"
  echo "$n" > "$SEGUE_SPARK_DIR/workers"
  "$daemon" start org.apache.spark.deploy.master.Master 1 \
    --host 127.0.0.1 --port "$SEGUE_SPARK_PORT" --webui-port "$SEGUE_SPARK_UI" >/dev/null
  for i in $(seq 1 "$n"); do
    mkdir -p "$SEGUE_SPARK_DIR/work/w$i"
    SPARK_WORKER_DIR=$SEGUE_SPARK_DIR/work/w$i "$daemon" start org.apache.spark.deploy.worker.Worker "$i" \
      --host 127.0.0.1 --cores 1 --memory "$mem" --webui-port $((SEGUE_SPARK_UI + i)) \
      --work-dir "$SEGUE_SPARK_DIR/work/w$i" "$MASTER_URL" >/dev/null
  done
  for _ in $(seq 1 120); do
    [ "$(workers_alive)" = "$n" ] && { echo "spark: master $MASTER_URL, $n workers alive"; exit 0; }
    sleep 0.5
  done
  echo "spark: only $(workers_alive) of $n workers came up; logs in $SPARK_LOG_DIR" >&2
  exit 1 ;;
stop)
  n=$(cat "$SEGUE_SPARK_DIR/workers" 2>/dev/null || echo 2)
  for i in $(seq 1 "$n"); do "$daemon" stop org.apache.spark.deploy.worker.Worker "$i" >/dev/null || true; done
  "$daemon" stop org.apache.spark.deploy.master.Master 1 >/dev/null || true ;;
kill-worker)
  i=${2:?worker index}
  pid=$(cat "$SPARK_PID_DIR/spark-$(id -un)-org.apache.spark.deploy.worker.Worker-$i.pid")
  # Its executors (children of the worker JVM) die with it, as when a machine is lost.
  pkill -9 -P "$pid" || true
  kill -9 "$pid"
  echo "spark: killed worker $i (pid $pid)" ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
