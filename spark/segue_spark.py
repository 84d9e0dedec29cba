#!/usr/bin/env python3
"""segue's sampling on an Apache Spark cluster: the per-file map runs as Spark tasks, the merge on
the driver, and the sample folder is identical to `segue sample` on one machine (same files,
same seed).

    spark-submit spark/segue_spark.py --segue /opt/segue/bin/segue \\
        --logs /data/mssd/training_set --records 2000000 --seed 0 --out sample_2m

What runs where:
- the driver lists the log files and asks `segue sample-plan` for the plan (file order and each
  file's share of the records);
- one Spark task per file runs `segue sample-map` on it and returns the partial (the file's
  counts, distinct ids and sampled sessions, as bytes);
- the driver writes the partials to a temporary folder and runs `segue sample-merge`, which
  checks that they are exactly the plan and writes the sample folder (temporary folder, then
  rename).

`--read local` (default): every executor reads the files by path (a local disk, NFS, a mounted
bucket). `--read spark`: Spark reads the files (any storage it is configured for: hdfs://,
s3a://, gs://, ...) and pipes each one into `segue sample-map --input -`; a task then holds one
whole file in memory.

A task whose executor or worker dies is run again by Spark (`spark.task.maxFailures`, 4 by
default). The map is a pure function of the file and the plan, so a rerun gives the same bytes.
"""
import argparse
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="segue sample on Spark: map each log file in a Spark task, merge on the driver.")
    ap.add_argument("--segue", required=True,
                    help="the segue binary: its path on every worker, or on the driver with --ship")
    ap.add_argument("--ship", action="store_true",
                    help="copy the driver's --segue binary to the executors (SparkContext.addFile)")
    ap.add_argument("--logs", nargs="+", required=True, help="log files or folders")
    ap.add_argument("--records", type=int, required=True, help="target number of records")
    ap.add_argument("--seed", type=int, default=0, help="master seed")
    ap.add_argument("--out", required=True, help="the sample folder to write (on the driver)")
    ap.add_argument("--force", action="store_true", help="replace --out if it exists")
    ap.add_argument("--skip-bad-rows", action="store_true",
                    help="skip and count unparsable rows instead of failing")
    ap.add_argument("--read", choices=["local", "spark"], default="local",
                    help="local: executors read files by path; spark: Spark reads them and pipes them in")
    ap.add_argument("--master", help="Spark master URL (default: spark-submit's or the session's)")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                    help="a Spark setting (repeatable), as spark-submit's --conf")
    ap.add_argument("--partials",
                    help="keep the partials in this (new or empty) folder; with --read local the tasks "
                         "write them there themselves instead of sending them back through Spark, "
                         "so it must be on storage every executor and the driver see "
                         "(default: they come back to the driver, into a temporary folder)")
    ap.add_argument("--report", help="write timings and task attempts here as JSON")
    ap.add_argument("merge_args", nargs="*",
                    help="after --: more `segue sample-merge` flags (--tracks, --split, --config, --json)")
    return ap.parse_args(argv)


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, **kw)
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace") if isinstance(p.stderr, bytes) else p.stderr
        what = " ".join([os.path.basename(cmd[0])] + [c for c in cmd[1:3] if c != "--quiet"])
        raise RuntimeError(f"{what} exited with {p.returncode}: {err.strip()[-4000:]}")
    return p


def common_flags(a):
    flags = ["--records", str(a.records), "--seed", str(a.seed)]
    if a.skip_bad_rows:
        flags.append("--skip-bad-rows")
    return flags


def list_with_hadoop(sc, paths):
    """The log files under `paths`, as Spark names them, chosen as `segue sample` chooses them in
    folders: *.csv and *.csv.gz, not tf_* (track features), not hidden."""
    jvm = sc._jvm
    conf = sc._jsc.hadoopConfiguration()
    names = []
    for p in paths:
        path = jvm.org.apache.hadoop.fs.Path(p)
        fs = path.getFileSystem(conf)
        if fs.getFileStatus(path).isFile():
            names.append(fs.makeQualified(path).toString())
            continue
        root = fs.makeQualified(path).toString()
        it = fs.listFiles(path, True)
        while it.hasNext():
            f = it.next().getPath()
            name = f.getName()
            hidden = any(part.startswith(".") for part in f.toString()[len(root):].split("/"))
            if (name.endswith(".csv") or name.endswith(".csv.gz")) and not name.startswith("tf_") and not hidden:
                names.append(f.toString())
    return names


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if os.path.exists(a.out) and not a.force:
        sys.exit(f"error: {a.out} exists (--force replaces it)")
    if a.partials and os.path.isdir(a.partials) and os.listdir(a.partials):
        sys.exit(f"error: {a.partials} is not empty: partials of another run would be merged")
    direct = a.partials is not None and a.read == "local"
    parts_dir = os.path.abspath(a.partials) if a.partials else None
    if direct:
        os.makedirs(parts_dir, exist_ok=True)
    segue_local = os.path.abspath(a.segue) if (a.ship or os.path.exists(a.segue)) else a.segue

    from pyspark import SparkFiles, TaskContext
    from pyspark.sql import SparkSession

    t0 = time.time()
    builder = SparkSession.builder.appName("segue-sample")
    if a.master:
        builder = builder.master(a.master)
    for kv in a.conf:
        key, _, value = kv.partition("=")
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    t_start = time.time() - t0

    # The plan, from segue itself: the file order and the shares are the embedded run's.
    t1 = time.time()
    if a.read == "local":
        plan_cmd = [segue_local, "--quiet", "sample-plan", "--logs", *a.logs, *common_flags(a)]
        plan = json.loads(run(plan_cmd).stdout)
    else:
        names = list_with_hadoop(sc, a.logs)
        plan_cmd = [segue_local, "--quiet", "sample-plan", "--names-from", "-", *common_flags(a)]
        plan = json.loads(run(plan_cmd, input="\n".join(names).encode()).stdout)
    files = plan["files"]
    n = len(files)
    t_plan = time.time() - t1

    if a.ship:
        sc.addFile(segue_local)
    ship, binary_name, flags = a.ship, os.path.basename(segue_local), common_flags(a)

    def binary():
        if not ship:
            return segue_local
        p = SparkFiles.get(binary_name)
        mode = os.stat(p).st_mode
        if not mode & stat.S_IXUSR:
            os.chmod(p, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return p

    def map_cmd(index, name, stdin):
        cmd = [binary(), "--quiet", "sample-map", "--index", str(index), "--files", str(n), *flags]
        return cmd + (["--input", "-", "--name", name] if stdin else ["--input", name])

    def result(index, started, out):
        ctx = TaskContext.get()
        return (index, ctx.attemptNumber(), ctx.partitionId(), time.time() - started, out)

    if a.read == "local":
        def task(items):
            for index, path in items:
                started = time.time()
                cmd = map_cmd(index, path, False)
                if direct:
                    # segue writes the partial through a temporary file and a rename: a task
                    # killed mid-write leaves no partial behind.
                    out = os.path.join(parts_dir, f"{index:06d}.part")
                    run(cmd + ["--out", out])
                    yield result(index, started, os.path.getsize(out))
                else:
                    yield result(index, started, run(cmd).stdout)

        tasks = sc.parallelize([(f["index"], f["path"]) for f in files], numSlices=n).mapPartitions(task)
    else:
        index_of = sc.broadcast({f["path"]: f["index"] for f in files})

        def task(items):
            for path, content in items:
                if path not in index_of.value:
                    raise RuntimeError(f"{path}: read by Spark but not in the plan")
                index = index_of.value[path]
                started = time.time()
                yield result(index, started, run(map_cmd(index, path, True), input=content).stdout)

        tasks = sc.binaryFiles(",".join(f["path"] for f in files), minPartitions=n).mapPartitions(task)

    t2 = time.time()
    try:
        results = tasks.collect()
    except Exception as e:  # a Py4JJavaError whose text holds the last attempt's Python error
        m = re.search(r"RuntimeError: (.*? exited with \d+: .*?)(?:\n\s*\n|\n\tat |\Z)", str(e), re.S)
        spark.stop()
        sys.exit("error: a map task failed, also when Spark ran it again: "
                 + (m.group(1).strip() if m else str(e)[-3000:]))
    t_map = time.time() - t2
    got = sorted(r[0] for r in results)
    if got != list(range(n)):
        raise RuntimeError(f"the map returned files {got}, the plan has {n}")
    retried = sorted(r[0] for r in results if r[1] > 0)
    spark.stop()

    # The merge, on the driver.
    t3 = time.time()
    keep = a.partials is not None
    parts_dir = parts_dir or tempfile.mkdtemp(prefix=".segue-partials-",
                                              dir=os.path.dirname(os.path.abspath(a.out)))
    os.makedirs(parts_dir, exist_ok=True)
    try:
        for index, _, _, _, data in results if not direct else []:
            path = os.path.join(parts_dir, f"{index:06d}.part")
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
        merge_cmd = [segue_local, "--quiet", "sample-merge", "--partials", parts_dir,
                     "--logs", *a.logs, "--out", a.out, *common_flags(a), *a.merge_args]
        if a.force:
            merge_cmd.append("--force")
        merged = run(merge_cmd, text=True)
    finally:
        if not keep:
            shutil.rmtree(parts_dir, ignore_errors=True)
    t_merge = time.time() - t3

    sys.stdout.write(merged.stdout)
    partial_bytes = sum(r[4] if direct else len(r[4]) for r in results)
    print(f"spark: {n} files in {n} tasks ({len(retried)} rerun after a failure); "
          f"start {t_start:.1f} s, plan {t_plan:.1f} s, map {t_map:.1f} s, merge {t_merge:.1f} s; "
          f"partials {partial_bytes / 1e6:.1f} MB {'written by the tasks' if direct else 'sent to the driver'}")
    if a.report:
        report = {
            "files": n,
            "read": a.read,
            "start_s": t_start,
            "plan_s": t_plan,
            "map_s": t_map,
            "merge_s": t_merge,
            "total_s": time.time() - t0,
            "partial_bytes": partial_bytes,
            "partials_written_by_tasks": direct,
            "rerun_files": retried,
            "tasks": [{"index": r[0], "attempt": r[1], "partition": r[2], "seconds": r[3]}
                      for r in sorted(results)],
        }
        with open(a.report, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
