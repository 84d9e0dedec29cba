"""Environment steps per second from Python: segue's SessionEnv (one session) and
SessionVectorEnv (64 side by side, batched in Rust), beside a straightforward NumPy /
scikit-learn implementation of the same k-nearest (state, action) lookup the simulator answers
each step with, in one run.

Usage: python bench/python/env_steps.py SAMPLE_DIR ENCODER_DIR KEYS_PREFIX EXPORT_NPZ [SECONDS]
  KEYS_PREFIX: the simulator's keys from `segue bench simulator --export PREFIX` (PREFIX.base.f32,
  the training transitions' keys; PREFIX.query.f32, held-out ones), default simulator settings.
  EXPORT_NPZ: `segue export --split train` of the same sample and encoder (the keys' levels).

segue's environments run on the training split, whose simulator holds exactly the keys the peer
searches (the default split, "test", has a simulator of the held-out sessions only: a fraction
of the keys). The peer answers exactly the lookup: the k = 30 nearest keys (brute force, as
segue's default exact index) within the radius 1.0, their levels averaged into the response distribution, a
level drawn. It does not encode histories or keep episodes, which segue's step also does, so
the comparison favours the peer. Prints one JSON line per row.
"""

import json
import sys
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

import segue

K, RADIUS = 30, 1.0


def rate(step, per_call, seconds):
    """Steps per second of `step` (`per_call` env steps each call) over about `seconds`."""
    step()  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n * per_call / (time.perf_counter() - t0)


def segue_single(sample, encoder, seconds):
    env = segue.SessionEnv(sample, encoder, split="train", action="track")
    rng = np.random.default_rng(0)
    env.reset(seed=0)

    def step():
        _, _, _, truncated, _ = env.step(int(rng.integers(env.core.tracks)))
        if truncated:
            env.reset()

    return rate(step, 1, seconds)


def segue_vector(sample, encoder, n, seconds):
    env = segue.SessionVectorEnv(sample, encoder, num_envs=n, split="train", action="track")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    return rate(lambda: env.step(rng.integers(env.core.tracks, size=n)), n, seconds)


def peer(base, levels, queries, n, seconds, algorithm):
    nn = NearestNeighbors(n_neighbors=K, algorithm=algorithm).fit(base)
    rng = np.random.default_rng(0)
    at = [0]

    def step():
        i = at[0] % (len(queries) - n)
        at[0] += n
        dist, idx = nn.kneighbors(queries[i:i + n])
        within = dist <= RADIUS
        probs = np.zeros((n, 4))
        for j in range(4):
            probs[:, j] = ((levels[idx] == j) & within).sum(axis=1)
        probs += 1e-9
        probs /= probs.sum(axis=1, keepdims=True)
        u = rng.random(n)[:, None]
        return (u > np.cumsum(probs, axis=1)).sum(axis=1)

    return rate(step, n, seconds)


def main():
    sample, encoder, keys, export = sys.argv[1:5]
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 5.0
    d = np.load(export)
    levels = d["levels"]
    base = np.fromfile(f"{keys}.base.f32", dtype=np.float32).reshape(len(levels), -1)
    queries = np.fromfile(f"{keys}.query.f32", dtype=np.float32).reshape(-1, base.shape[1])
    rows = [
        ("segue SessionEnv, 1 session", segue_single(sample, encoder, seconds)),
        ("segue SessionVectorEnv, 64 sessions", segue_vector(sample, encoder, 64, seconds)),
        ("numpy/sklearn kNN lookup, 1 query", peer(base, levels, queries, 1, seconds, "brute")),
        ("numpy/sklearn kNN lookup, 64 queries", peer(base, levels, queries, 64, seconds, "brute")),
    ]
    for name, r in rows:
        print(json.dumps({"row": name, "keys": len(base), "dim": base.shape[1], "steps_per_s": r}))


if __name__ == "__main__":
    main()
