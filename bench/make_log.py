#!/usr/bin/env python3
"""Seeded generator of a synthetic MSSD-style session log (CSV or CSV.GZ).

Writes the official 21-column schema (header and column order as in Spotify's
training_set/log_*.csv), with marginals taken from the published statistics in
shared/data/mssd/MSSD_NOTES.md. No real data is embedded. Rows are produced in
numpy/polars chunks of whole sessions (~500k rows each); chunk k depends only
on (seed, k), so a smaller --target-mb file is a byte prefix of a larger one,
and the same arguments always give the same bytes.

  python3 bench/make_log.py --out FILE --target-mb 1000 --seed 1 [--catalogue 300000] [--gzip]
"""
import argparse, gzip, io, os, time
import numpy as np
import polars as pl

COLUMNS = ["session_id", "session_position", "session_length", "track_id_clean",
           "skip_1", "skip_2", "skip_3", "not_skipped", "context_switch",
           "no_pause_before_play", "short_pause_before_play", "long_pause_before_play",
           "hist_user_behavior_n_seekfwd", "hist_user_behavior_n_seekback",
           "hist_user_behavior_is_shuffle", "hour_of_day", "date", "premium", "context_type",
           "hist_user_behavior_reason_start", "hist_user_behavior_reason_end"]

# Session lengths 10..20, shares of the full training set (normalised).
LEN_P = np.array([8.8, 7.7, 6.7, 5.9, 5.2, 4.5, 4.0, 3.5, 3.1, 2.8, 47.7]); LEN_P /= LEN_P.sum()
CONTEXTS = ["user_collection", "catalog", "editorial_playlist", "radio", "personalized_playlist", "charts"]
CONTEXT_P = np.array([67430, 38263, 35663, 21107, 2976, 2441], float); CONTEXT_P /= CONTEXT_P.sum()
# skip_2 rate by position (1, 2, 3, 4+), Adapa 2019; skip_1 / skip_3 derived from the same uniform draw.
SKIP2_BY_POS = np.array([0.0, 0.374, 0.467, 0.49] + [0.525] * 17)
ENDS = ["trackdone", "fwdbtn", "backbtn", "endplay", "logout", "remote"]
END_P_PLAYED = [0.97, 0.0, 0.0, 0.02, 0.005, 0.005]     # not skipped
END_P_SKIPPED = [0.0, 0.75, 0.12, 0.12, 0.005, 0.005]   # skip_3
STARTS = ["trackdone", "fwdbtn", "backbtn", "clickrow", "appload", "playbtn", "remote", "trackerror", "endplay"]
START_P_FIRST = [0.15, 0.2, 0.05, 0.35, 0.2, 0.03, 0.01, 0.005, 0.005]
DATES = pl.date_range(pl.date(2018, 7, 15), pl.date(2018, 9, 18), eager=True).dt.strftime("%Y-%m-%d")
HOUR_P = 1.0 + 0.7 * np.cos(2 * np.pi * (np.arange(24) - 18) / 24); HOUR_P /= HOUR_P.sum()
BOOL = pl.Series(["False", "True"])
HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
SESSIONS_PER_CHUNK = 30_000  # ~500k rows


def uuid_strings(rng, n, prefix):
    """n uuid4-looking strings with a prefix, built as a byte matrix (no Python loop)."""
    nib = rng.integers(0, 16, size=(n, 32), dtype=np.uint8)
    nib[:, 12] = 4                      # version nibble
    nib[:, 16] = 8 + (nib[:, 16] & 3)   # variant nibble
    chars, p = HEX[nib], len(prefix)
    out = np.empty((n, p + 36), np.uint8)
    out[:, :p] = np.frombuffer(prefix.encode(), np.uint8)
    col = p
    for i, (a, b) in enumerate([(0, 8), (8, 12), (12, 16), (16, 20), (20, 32)]):
        if i:
            out[:, col] = ord("-"); col += 1
        out[:, col:col + b - a] = chars[:, a:b]; col += b - a
    return pl.Series(out.view(f"S{p + 36}").ravel()).cast(pl.String)


def pick(rng, p, n):
    """n categorical draws with probabilities p (vectorised inverse CDF)."""
    return np.searchsorted(np.cumsum(p), rng.random(n) * np.sum(p), side="right").clip(0, len(p) - 1)


def make_catalogue(seed, size):
    rng = np.random.default_rng([seed, 0])
    ids = uuid_strings(rng, size, "t_")
    w = 1.0 / (np.arange(1, size + 1) + 10.0)  # Zipf-Mandelbrot popularity, rank = catalogue index
    return ids, np.cumsum(w) / w.sum()


def make_chunk(seed, k, tracks, track_cdf):
    rng = np.random.default_rng([seed, 1, k])
    ns = SESSIONS_PER_CHUNK
    lens = 10 + pick(rng, LEN_P, ns)
    n = int(lens.sum())
    sess = np.repeat(np.arange(ns), lens)                              # session index of each row
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    pos = np.arange(n) - starts + 1
    first = pos == 1
    # per-session constants
    hour, date = pick(rng, HOUR_P, ns), rng.integers(0, len(DATES), ns)
    premium, shuffle = rng.random(ns) < 0.81, rng.random(ns) < 0.31
    context = pick(rng, CONTEXT_P, ns)
    # skips: one uniform per row against thresholds; a per-session propensity makes skips streaky
    logit = np.log(SKIP2_BY_POS[pos] / (1 - SKIP2_BY_POS[pos])) + rng.normal(0.0, 1.3, ns)[sess]
    p2 = 1.0 / (1.0 + np.exp(-logit))
    u = rng.random(n)
    skip_1 = u < p2 * (0.42 / 0.51)
    skip_2 = u < p2
    skip_3 = u < p2 + (1.0 - p2) * 0.265
    # reasons: end depends on the skip outcome; start follows the previous row's end
    end = np.where(skip_3, pick(rng, END_P_SKIPPED, n), pick(rng, END_P_PLAYED, n))
    prev_end = np.roll(end, 1)
    start = np.select([prev_end == 0, prev_end == 1, prev_end == 2], [0, 1, 2], 3)  # trackdone/fwdbtn/backbtn/clickrow
    start = np.where(prev_end >= 3, pick(rng, [0, 0, 0, 0.6, 0.25, 0.1, 0.05, 0, 0], n), start)
    start = np.where(rng.random(n) < 0.08, 3, start)               # user clicks a row anyway
    start = np.where(rng.random(n) < 0.0005, 7, start)              # trackerror
    start = np.where(first, pick(rng, START_P_FIRST, n), start)
    # pauses (real data: none at position 1; a short pause also sets long_pause) and context switches
    pause = np.where(first, 3, pick(rng, [0.818, 0.155, 0.027], n))  # 0 none, 1 short, 2 long, 3 n/a
    ctx_switch = ~first & (rng.random(n) < 0.043)
    seek = lambda p: np.where(rng.random(n) < p, rng.geometric(0.6, n), 0)
    return pl.DataFrame({
        "session_id": uuid_strings(rng, ns, "0_").gather(sess),
        "session_position": pos, "session_length": lens[sess],
        "track_id_clean": tracks.gather(np.searchsorted(track_cdf, rng.random(n))),
        "skip_1": BOOL.gather(skip_1.astype(np.int8)), "skip_2": BOOL.gather(skip_2.astype(np.int8)),
        "skip_3": BOOL.gather(skip_3.astype(np.int8)), "not_skipped": BOOL.gather((~skip_3).astype(np.int8)),
        "context_switch": ctx_switch.astype(np.int8),
        "no_pause_before_play": (pause == 0).astype(np.int8),
        "short_pause_before_play": (pause == 1).astype(np.int8),
        "long_pause_before_play": ((pause == 1) | (pause == 2)).astype(np.int8),
        "hist_user_behavior_n_seekfwd": seek(0.03), "hist_user_behavior_n_seekback": seek(0.03),
        "hist_user_behavior_is_shuffle": BOOL.gather(shuffle[sess].astype(np.int8)),
        "hour_of_day": hour[sess], "date": DATES.gather(date[sess]),
        "premium": BOOL.gather(premium[sess].astype(np.int8)),
        "context_type": pl.Series(CONTEXTS).gather(context[sess]),
        "hist_user_behavior_reason_start": pl.Series(STARTS).gather(start),
        "hist_user_behavior_reason_end": pl.Series(ENDS).gather(end),
    }), lens


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--target-mb", type=float, default=1000.0, help="uncompressed size, MB = 1e6 bytes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--catalogue", type=int, default=300_000)
    ap.add_argument("--gzip", action="store_true", help="gzip the output (level --level)")
    ap.add_argument("--level", type=int, default=6)
    a = ap.parse_args()
    t0 = time.time()
    budget = int(a.target_mb * 1e6)
    tracks, cdf = make_catalogue(a.seed, a.catalogue)
    raw = open(a.out, "wb")
    out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=a.level, mtime=0) if a.gzip else raw
    written = rows = sessions = k = 0
    while written < budget:
        df, lens = make_chunk(a.seed, k, tracks, cdf)
        buf = io.BytesIO()
        df.write_csv(buf, include_header=(k == 0))
        data = buf.getbuffer()
        if written + len(data) > budget:  # last chunk: keep the whole sessions that fit
            ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1   # byte end of each line
            sess_end = ends[np.cumsum(lens) - 1 + (k == 0)]                   # byte end of each session
            keep = max(int(np.searchsorted(sess_end, budget - written, side="right")), 1)
            data, lens = data[:sess_end[keep - 1]], lens[:keep]
            budget = 0  # stop after this chunk
        out.write(data)
        written += len(data); rows += int(lens.sum()); sessions += len(lens); k += 1
    out.close(); raw.close()
    print(f"rows={rows} sessions={sessions} bytes_uncompressed={written} "
          f"bytes_on_disk={os.path.getsize(a.out)} seconds={time.time() - t0:.1f} file={a.out}")


if __name__ == "__main__":
    main()
