#!/usr/bin/env bash
# Installs what the Spark driver and the loopback test cluster need: a Java runtime (Debian's
# package, when none is on the PATH) and PySpark in a venv under target/.
set -euo pipefail
source "$(dirname "$0")/env.sh"
if ! command -v java >/dev/null; then
  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
if [ ! -x "$SEGUE_SPARK_VENV/bin/python" ] || ! "$SEGUE_SPARK_VENV/bin/python" -c "import pyspark" 2>/dev/null; then
  python3 -m venv "$SEGUE_SPARK_VENV"
  "$SEGUE_SPARK_VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/spark/requirements.txt"
fi
"$SEGUE_SPARK_VENV/bin/python" -c "import pyspark; print('pyspark', pyspark.__version__)"
java -version 2>&1 | head -1
