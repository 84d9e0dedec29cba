# Sourced by spark/*.sh: where the PySpark venv and a loopback test cluster live. Everything
# is under target/ (ignored by git). Override SEGUE_SPARK_VENV / SEGUE_SPARK_DIR to move it.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SEGUE_SPARK_VENV=${SEGUE_SPARK_VENV:-$ROOT/target/spark-venv}
export SEGUE_SPARK_DIR=${SEGUE_SPARK_DIR:-$ROOT/target/spark-cluster}
# PySpark's package is Spark's home (its sbin/ and jars/); empty until spark/setup.sh ran.
SPARK_HOME=$(ls -d "$SEGUE_SPARK_VENV"/lib/python3*/site-packages/pyspark 2>/dev/null | head -1 || true)
export SPARK_HOME
export PATH=$SEGUE_SPARK_VENV/bin:$PATH
if [ -z "${JAVA_HOME:-}" ] && command -v java >/dev/null; then
  JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  export JAVA_HOME
fi
# Loopback only: the master, the workers, the executors and the driver bind to 127.0.0.1.
export SPARK_LOCAL_IP=127.0.0.1
export SPARK_MASTER_HOST=127.0.0.1
export SEGUE_SPARK_PORT=${SEGUE_SPARK_PORT:-17077}
export SEGUE_SPARK_UI=${SEGUE_SPARK_UI:-18080}
export MASTER_URL=spark://127.0.0.1:$SEGUE_SPARK_PORT
export SPARK_LOG_DIR=$SEGUE_SPARK_DIR/logs
export SPARK_PID_DIR=$SEGUE_SPARK_DIR/pids
export SPARK_DAEMON_MEMORY=256m
export PYSPARK_PYTHON=$SEGUE_SPARK_VENV/bin/python
export PYSPARK_DRIVER_PYTHON=$SEGUE_SPARK_VENV/bin/python
