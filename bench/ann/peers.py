#!/usr/bin/env python3
"""Reference ANN numbers on the files written by make_vectors.py.

Backends: faiss IndexFlatL2 (exact), faiss IndexHNSWFlat(M), hnswlib ('l2').
For each backend: build seconds (add() time, with --threads threads), then for each
efSearch: queries/s for one batch call over all queries (qps_batch) and for a Python
loop issuing one query per call (qps_single), and recall@k against PREFIX.gt.u32.
Each timing is repeated (untimed warm-up first) until --min-time seconds and at least
--min-reps runs have elapsed; the fastest run is reported.

PREFIX.json and PREFIX.gt.u32 are optional (see load()), so the files written by
`segue bench ann --export` work too (pass --dim).

Prints one JSON line per (library, index, ef) on stdout, then a markdown table.
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def load(prefix, dim, k):
    """PREFIX.json is optional (segue bench ann --export writes none): then --dim is needed.
    PREFIX.gt.u32 is optional: without it the ground truth comes from faiss IndexFlatL2."""
    if os.path.exists(prefix + ".json"):
        with open(prefix + ".json") as f:
            meta = json.load(f)
        if dim is not None and dim != meta["dim"]:
            sys.exit(f"--dim {dim} disagrees with {prefix}.json dim {meta['dim']}")
        dim = meta["dim"]
    if dim is None:
        sys.exit(f"no {prefix}.json: pass --dim")
    xb = np.fromfile(prefix + ".base.f32", dtype="<f4").astype(np.float32, copy=False).reshape(-1, dim)
    xq = np.fromfile(prefix + ".query.f32", dtype="<f4").astype(np.float32, copy=False).reshape(-1, dim)
    xb, xq = np.ascontiguousarray(xb), np.ascontiguousarray(xq)
    if os.path.exists(prefix + ".gt.u32"):
        gt = np.fromfile(prefix + ".gt.u32", dtype="<u4").reshape(len(xq), -1).astype(np.int64)
    else:
        import faiss
        print(f"# no {prefix}.gt.u32: ground truth from faiss IndexFlatL2", file=sys.stderr)
        flat = faiss.IndexFlatL2(dim)
        flat.add(xb)
        gt = flat.search(xq, k)[1].astype(np.int64)
    return xb, xq, gt


def recall_at(ids, gt, k):
    g = gt[:, :k]
    hits = sum(len(np.intersect1d(ids[i, :k], g[i], assume_unique=False)) for i in range(len(g)))
    return hits / (len(g) * k)


def best_time(fn, min_time, min_reps):
    fn()  # warm-up, untimed
    times, total = [], 0.0
    while len(times) < min_reps or total < min_time:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        times.append(dt)
        total += dt
    return min(times)


def measure(search_batch, search_one, xq, gt, k, args, single_queries=None):
    nq = xq.shape[0]
    ids = search_batch()
    t_b = best_time(search_batch, args.min_time, args.min_reps)
    ns = nq if not single_queries else min(single_queries, nq)

    def loop():
        for i in range(ns):
            search_one(xq[i:i + 1])

    t_s = best_time(loop, args.min_time, args.min_reps)
    # The single-query path must return the same answers as the batch path.
    single_ids = np.vstack([search_one(xq[i:i + 1]) for i in range(ns)])
    if not np.array_equal(np.sort(single_ids, axis=1), np.sort(ids[:ns], axis=1)):
        print("warning: single-query results differ from batch results", file=sys.stderr)
    return nq / t_b, ns / t_s, recall_at(ids, gt, k)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prefix")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef-search-list", "--ef", default="16,32,64,128")
    ap.add_argument("--dim", type=int, default=None, help="needed only when PREFIX.json is absent")
    ap.add_argument("--backends", "--libs", default="faiss-flat,faiss-hnsw,hnswlib",
                    help="comma list from faiss-flat,faiss-hnsw,hnswlib ('faiss' = both faiss ones)")
    ap.add_argument("--exact-queries", type=int, default=0,
                    help="queries in IndexFlatL2's one-per-call loop (0 = all; lower it at millions of vectors)")
    ap.add_argument("--flat-blas-threshold", type=int, default=20,
                    help="extra IndexFlatL2 row with faiss.cvar.distance_compute_blas_threshold set to this (0: skip)")
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds of timed runs per measurement")
    ap.add_argument("--min-reps", type=int, default=3)
    args = ap.parse_args()

    import faiss

    k = args.k
    faiss.omp_set_num_threads(args.threads)
    xb, xq, gt = load(args.prefix, args.dim, k)
    n, dim = xb.shape
    if gt.shape[1] < k:
        sys.exit(f"ground truth has only {gt.shape[1]} neighbours per query, k={k}")
    efs = [int(e) for e in args.ef_search_list.split(",") if e]
    backends = set(args.backends.split(","))
    if "faiss" in backends:
        backends |= {"faiss-flat", "faiss-hnsw"}
    hnswlib_version = "not used"
    if "hnswlib" in backends:
        # Imported only when asked for: its PyPI package builds from source on most Pythons.
        import hnswlib
        from importlib.metadata import version as pkg_version
        try:
            hnswlib_version = pkg_version("hnswlib")
        except Exception:
            hnswlib_version = getattr(hnswlib, "__version__", "?")
    rows = []

    def emit(library, version, index, ef, build_s, qps_b, qps_s, rec):
        row = {"library": library, "version": version, "index": index, "n": n, "dim": dim,
               "threads": args.threads, "M": None if index.startswith("IndexFlatL2") else args.M,
               "ef_construction": None if index.startswith("IndexFlatL2") else args.ef_construction,
               "ef_search": ef, "build_s": round(build_s, 3), "qps_batch": round(qps_b, 1),
               "qps_single": round(qps_s, 1), "recall_at_k": round(rec, 4)}
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(f"# {n} x {dim}, {xq.shape[0]} queries, k={k}, threads={args.threads}, "
          f"faiss {faiss.__version__}, hnswlib {hnswlib_version}, "
          f"numpy {np.__version__}, loadavg {os.getloadavg()[0]:.2f}", file=sys.stderr)

    if "faiss-flat" in backends:
        t0 = time.perf_counter()
        index = faiss.IndexFlatL2(dim)
        index.add(xb)
        build = time.perf_counter() - t0
        qb, qs, rec = measure(lambda: index.search(xq, k)[1], lambda q: index.search(q, k)[1], xq, gt, k, args,
                              single_queries=args.exact_queries)
        emit("faiss", faiss.__version__, "IndexFlatL2", None, build, qb, qs, rec)
        # faiss 1.15.1 takes the BLAS (GEMM) path only when nq * dim >= distance_compute_blas_threshold
        # (default 128000: nq >= 2667 at dim 48), so the default batch above is a SIMD scan. Also
        # report the GEMM path (threshold 20, the old default; with dim >= 20 it then forces BLAS
        # even for one query, so that row's qps_single is the slow one-row GEMM): the "exact
        # batched GEMM" reference.
        if args.flat_blas_threshold > 0:
            old_thr = faiss.cvar.distance_compute_blas_threshold
            faiss.cvar.distance_compute_blas_threshold = args.flat_blas_threshold
            qb, qs, rec = measure(lambda: index.search(xq, k)[1], lambda q: index.search(q, k)[1], xq, gt, k, args,
                                  single_queries=args.exact_queries)
            faiss.cvar.distance_compute_blas_threshold = old_thr
            emit("faiss", faiss.__version__, "IndexFlatL2 (BLAS)", None, build, qb, qs, rec)
        del index

    if "faiss-hnsw" in backends:
        t0 = time.perf_counter()
        index = faiss.IndexHNSWFlat(dim, args.M)
        index.hnsw.efConstruction = args.ef_construction
        index.add(xb)
        build = time.perf_counter() - t0
        print(f"# faiss HNSW build {build:.1f}s", file=sys.stderr, flush=True)
        for ef in efs:
            index.hnsw.efSearch = ef
            qb, qs, rec = measure(lambda: index.search(xq, k)[1], lambda q: index.search(q, k)[1], xq, gt, k, args)
            emit("faiss", faiss.__version__, "IndexHNSWFlat", ef, build, qb, qs, rec)
        del index

    if "hnswlib" in backends:
        t0 = time.perf_counter()
        p = hnswlib.Index(space="l2", dim=dim)
        p.init_index(max_elements=n, ef_construction=args.ef_construction, M=args.M, random_seed=100)
        p.set_num_threads(args.threads)
        p.add_items(xb, np.arange(n), num_threads=args.threads)
        build = time.perf_counter() - t0
        print(f"# hnswlib build {build:.1f}s", file=sys.stderr, flush=True)
        t = args.threads
        for ef in efs:
            p.set_ef(max(ef, k))
            qb, qs, rec = measure(lambda: p.knn_query(xq, k=k, num_threads=t)[0],
                                  lambda q: p.knn_query(q, k=k, num_threads=t)[0], xq, gt, k, args)
            emit("hnswlib", hnswlib_version, "HNSW", ef, build, qb, qs, rec)
        del p

    print()
    print(f"n={n} dim={dim} queries={xq.shape[0]} k={k} threads={args.threads} "
          f"M={args.M} ef_construction={args.ef_construction}")
    print()
    print(f"| library | index | ef_search | build_s | qps_batch | qps_single | recall@{k} |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ef = "-" if r["ef_search"] is None else r["ef_search"]
        print(f"| {r['library']} | {r['index']} | {ef} | {r['build_s']:.1f} | "
              f"{r['qps_batch']:,.0f} | {r['qps_single']:,.0f} | {r['recall_at_k']:.4f} |")


if __name__ == "__main__":
    main()
