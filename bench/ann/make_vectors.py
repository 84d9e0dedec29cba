#!/usr/bin/env python3
"""Seeded clustered test vectors + exact top-10 ground truth for the ANN benchmark.

Gaussian mixture: C centres ~ N(0, 1) in D dims; each point = a uniformly chosen
centre + N(0, 0.35^2) noise; float32. Queries are drawn from the same mixture with
independent random streams (they are not base points).

Writes (raw little-endian, row-major, no header):
  PREFIX.base.f32   N x D float32
  PREFIX.query.f32  Q x D float32
  PREFIX.gt.u32     Q x 10 uint32 ids of the exact nearest base vectors (L2), nearest first
  PREFIX.json       metadata (n, dim, queries, seed, clusters, sigma, k, timings)

The output depends only on (n, dim, clusters, seed, queries): generation uses a fixed
chunk size and separate generators for centres, base labels, base noise, query labels
and query noise.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

SIGMA = 0.35
GT_K = 10
CHUNK = 1 << 18  # rows generated per step (fixed: part of the output definition)


def gen_rows(n, dim, centres, label_rng, noise_rng):
    """Yield float32 chunks of mixture samples."""
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        labels = label_rng.integers(0, centres.shape[0], size=m)
        x = noise_rng.standard_normal((m, dim), dtype=np.float32)
        x *= np.float32(SIGMA)
        x += centres[labels]
        yield x


def write_rows(path, n, dim, centres, label_rng, noise_rng):
    # Explicit little-endian on disk regardless of host byte order.
    with open(path, "wb") as f:
        for x in gen_rows(n, dim, centres, label_rng, noise_rng):
            f.write(x.astype("<f4", copy=False).tobytes(order="C"))


def ground_truth(base, xq, k, chunk_rows=1 << 19):
    """Exact top-k with faiss IndexFlatL2, chunked over the base, then a float64
    re-rank of the merged candidates so that BLAS rounding cannot reorder near-ties."""
    import faiss

    nq = xq.shape[0]
    kk = min(2 * k, base.shape[0])  # extra candidates per chunk for the exact re-rank
    cand_i = []
    for start in range(0, base.shape[0], chunk_rows):
        xb = np.ascontiguousarray(base[start:start + chunk_rows], dtype=np.float32)
        index = faiss.IndexFlatL2(xb.shape[1])
        index.add(xb)
        _, i = index.search(xq, min(kk, xb.shape[0]))
        cand_i.append(i.astype(np.int64) + start)
        del index, xb
    cand = np.concatenate(cand_i, axis=1)  # nq x (chunks*kk)
    gt = np.empty((nq, k), dtype=np.uint32)
    q64 = xq.astype(np.float64)
    for qi in range(nq):
        ids = np.unique(cand[qi][cand[qi] >= 0])
        d = ((base[ids].astype(np.float64) - q64[qi]) ** 2).sum(axis=1)
        order = np.lexsort((ids, d))[:k]  # distance, then id for exact ties
        gt[qi] = ids[order]
    return gt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--dim", type=int, default=48)
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--out", required=True, help="output prefix, e.g. bench/ann/out/c200k")
    ap.add_argument("--no-gt", action="store_true", help="skip the ground-truth computation")
    args = ap.parse_args()

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    ss = np.random.SeedSequence(args.seed)
    s_centres, s_blab, s_bnoise, s_qlab, s_qnoise = ss.spawn(5)
    centres = np.random.default_rng(s_centres).standard_normal((args.clusters, args.dim), dtype=np.float32)

    t0 = time.perf_counter()
    base_path = args.out + ".base.f32"
    write_rows(base_path, args.n, args.dim, centres,
               np.random.default_rng(s_blab), np.random.default_rng(s_bnoise))
    query_path = args.out + ".query.f32"
    write_rows(query_path, args.queries, args.dim, centres,
               np.random.default_rng(s_qlab), np.random.default_rng(s_qnoise))
    t_gen = time.perf_counter() - t0
    print(f"generated {args.n} x {args.dim} base + {args.queries} queries in {t_gen:.2f}s", file=sys.stderr)

    t_gt = None
    if not args.no_gt:
        t1 = time.perf_counter()
        base = np.memmap(base_path, dtype="<f4", mode="r", shape=(args.n, args.dim))
        xq = np.fromfile(query_path, dtype="<f4").reshape(args.queries, args.dim).astype(np.float32)
        gt = ground_truth(base, xq, GT_K)
        gt.astype("<u4").tofile(args.out + ".gt.u32")
        t_gt = time.perf_counter() - t1
        print(f"ground truth (top-{GT_K}) in {t_gt:.2f}s", file=sys.stderr)

    meta = {
        "n": args.n, "dim": args.dim, "queries": args.queries, "seed": args.seed,
        "clusters": args.clusters, "sigma": SIGMA, "gt_k": GT_K if not args.no_gt else 0,
        "dtype": "float32 little-endian row-major", "gt_dtype": "uint32 little-endian row-major",
        "files": {"base": os.path.basename(base_path), "query": os.path.basename(query_path),
                  "gt": None if args.no_gt else os.path.basename(args.out + ".gt.u32")},
        "gen_s": round(t_gen, 3), "gt_s": None if t_gt is None else round(t_gt, 3),
    }
    with open(args.out + ".json", "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
