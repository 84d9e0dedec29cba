#!/usr/bin/env python3
"""Peers of `segue bench ann`: faiss-cpu IndexFlatL2 and IndexHNSWFlat, and hnswlib, on the same
raw float32 files (PREFIX.base.f32: n x dim row-major, PREFIX.query.f32: q x dim).

One thread, k = 10. Exact ground truth from IndexFlatL2. For each HNSW efSearch: queries/s with one
query per call (as segue measures) and with one batch call, and recall@10. Prints JSON lines and a
markdown table.

  python3 bench/ann/peers.py PREFIX --dim 30 [--M 16] [--ef-construction 200] [--ef 16,32,64,128] [--libs faiss,hnswlib]
"""
import argparse, json, time
import numpy as np
import faiss

try:
    import hnswlib
except ImportError:  # optional peer
    hnswlib = None


def recall(truth, got, k=10):
    return float(np.mean([len(set(t[:k]) & set(g[:k])) / k for t, g in zip(truth, got)]))


def per_query(search, q):
    t = time.perf_counter()
    out = [search(q[i:i + 1]) for i in range(len(q))]
    return len(q) / (time.perf_counter() - t), np.vstack(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prefix")
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef", default="16,32,64,128")
    ap.add_argument("--exact-queries", type=int, default=200)
    ap.add_argument("--libs", default="faiss,hnswlib", help="peers to run")
    a = ap.parse_args()
    faiss.omp_set_num_threads(1)
    base = np.fromfile(a.prefix + ".base.f32", dtype=np.float32).reshape(-1, a.dim)
    q = np.fromfile(a.prefix + ".query.f32", dtype=np.float32).reshape(-1, a.dim)
    n, rows = len(base), []

    flat = faiss.IndexFlatL2(a.dim)
    flat.add(base)
    t = time.perf_counter()
    _, truth = flat.search(q, 10)
    rows.append(dict(library="faiss", index="IndexFlatL2 (batch)", ef=None, build_s=0.0,
                     qps=len(q) / (time.perf_counter() - t), recall=1.0))
    few = q[:a.exact_queries]
    qps, _ = per_query(lambda x: flat.search(x, 10)[1], few)
    rows.append(dict(library="faiss", index="IndexFlatL2 (one query per call)", ef=None, build_s=0.0, qps=qps, recall=1.0))

    hnsw = faiss.IndexHNSWFlat(a.dim, a.M)
    hnsw.hnsw.efConstruction = a.ef_construction
    t = time.perf_counter()
    hnsw.add(base)
    build = time.perf_counter() - t
    for ef in map(int, a.ef.split(",")):
        hnsw.hnsw.efSearch = ef
        qps, got = per_query(lambda x: hnsw.search(x, 10)[1], q)
        t = time.perf_counter()
        hnsw.search(q, 10)
        qps_batch = len(q) / (time.perf_counter() - t)
        rows.append(dict(library="faiss", index=f"IndexHNSWFlat M{a.M}", ef=ef, build_s=build, qps=qps,
                         qps_batch=qps_batch, recall=recall(truth, got)))

    if hnswlib is not None and "hnswlib" in a.libs:
        h = hnswlib.Index(space="l2", dim=a.dim)
        h.set_num_threads(1)
        t = time.perf_counter()
        h.init_index(max_elements=n, M=a.M, ef_construction=a.ef_construction, random_seed=1)
        h.add_items(base, num_threads=1)
        build = time.perf_counter() - t
        for ef in map(int, a.ef.split(",")):
            h.set_ef(ef)
            qps, got = per_query(lambda x: h.knn_query(x, k=10, num_threads=1)[0], q)
            rows.append(dict(library="hnswlib", index=f"HNSW M{a.M}", ef=ef, build_s=build, qps=qps, recall=recall(truth, got)))

    for r in rows:
        r.update(n=n, dim=a.dim, threads=1)
        print(json.dumps(r))
    print("\n| library | index | ef_search | build s | queries/s (one per call) | recall@10 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['library']} | {r['index']} | {r['ef'] or '-'} | {r['build_s']:.1f} | {r['qps']:.0f} | {r['recall']:.4f} |")


if __name__ == "__main__":
    main()
