#!/usr/bin/env python3
"""Polars baseline for `segue stats`: read one MSSD log (.csv or .csv.gz) with
pl.read_csv (all 21 columns, default threads) and compute records, distinct
sessions, distinct tracks and the means of not_skipped and skip_2.
Prints one JSON line. MB = 1e6 bytes. For .gz the uncompressed size is measured
by streaming decompression before the timed part, unless --bytes-uncompressed is
given (bench/ingest.sh passes it, so process wall time excludes that step).

  python3 bench/polars_ingest.py FILE [--bytes-uncompressed N]
"""
import argparse, json, os, time, zlib
import polars as pl

BOOLS = ["skip_1", "skip_2", "skip_3", "not_skipped", "hist_user_behavior_is_shuffle", "premium"]


def gunzip_size(path):
    d, n = zlib.decompressobj(wbits=47), 0  # 47: gzip or zlib header, auto-detected
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            n += len(d.decompress(chunk))
            while d.unused_data:  # concatenated gzip members
                rest = d.unused_data
                d = zlib.decompressobj(wbits=47)
                n += len(d.decompress(rest))
    return n + len(d.flush())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--bytes-uncompressed", type=int)
    a = ap.parse_args()
    path, on_disk = a.file, os.path.getsize(a.file)
    uncompressed = a.bytes_uncompressed or (gunzip_size(path) if path.endswith(".gz") else on_disk)

    t0 = time.perf_counter()
    df = pl.read_csv(path)
    t_read = time.perf_counter() - t0
    # Raw Spotify files say true/false, pandas re-saves True/False: polars infers both as Boolean,
    # anything else left as strings is parsed case-insensitively (and timed).
    df = df.with_columns(pl.col(c).str.to_lowercase() == "true" for c in BOOLS if df.schema[c] == pl.String)
    stats = df.select(
        records=pl.len(),
        sessions=pl.col("session_id").n_unique(),
        tracks=pl.col("track_id_clean").n_unique(),
        not_skipped=pl.col("not_skipped").mean(),
        skip_2=pl.col("skip_2").mean(),
    ).row(0, named=True)
    t_total = time.perf_counter() - t0

    print(json.dumps({
        "tool": "polars", "version": pl.__version__, "file": path,
        "bytes_on_disk": on_disk, "bytes_uncompressed": uncompressed,
        "seconds_read": round(t_read, 3), "seconds_total": round(t_total, 3),
        "mb_per_s_uncompressed": round(uncompressed / 1e6 / t_total, 1),
        **stats,
    }))


if __name__ == "__main__":
    main()
