#!/usr/bin/env python3
"""Fit a Gaussian-copula generator for Spotify MSSD track features (tf_*.csv).

Reproducible: `python3 tools/fit_track_features.py` (numpy + scipy).  Writes src/synth/params.rs (or $OUT_RS) and
prints the verification tables (1,000,000 simulated tracks).

Targets: "Track-feature marginals over all 3,706,388 tracks" in
../shared/data/mssd/MSSD_NOTES.md (std, mean, p25, p50, p75, min, max).

Model
-----
z ~ N(0, R) over the 18 continuous features, u_j = Phi(z_j), x_j = Q_j(u_j, z_j) with a
closed-form quantile Q_j (families below, mirrored 1:1 by `Marginal::quantile` in params.rs).
release_year is rounded to the nearest integer after Q.  key / mode / time_signature are drawn
independently from fixed tables.  acoustic_vector_k = sum_j W[k][j] z_j + N(0, s_noise^2).

Fitting
-------
Per feature, for each candidate family we minimise the squared residuals
  ((sd - sd*)/sd*, (mean - mean*)/sd*, (p25 - p25*)/sd*, (p50 - p50*)/sd*, (p75 - p75*)/sd*)
(location errors in units of the target sd, sd error relative), computed *exactly* from the
quantile function: quartiles are Q(0.25), Q(0.5), Q(0.75); mean and sd are integrals of Q over
u, done with a 400k-point midpoint rule in u (all families are clamped to [min, max], so the
truncated extreme tails contribute < 1e-5 of the range).  For instrumentalness the p25/p50
residuals are taken in log10 (they are 2.5e-7 and 2.2e-4, invisible on an sd scale).
The best parametric family wins; a 9-knot piecewise-linear quantile is used instead only where
the best parametric fit misses a statistic by more than 0.04 target-sd (duration, release_year,
liveness, tempo) or piles more than 0.5% of the mass onto a min/max clamp (speechiness): its quartile knots are pinned to the targets, min/max knots to the range, and the other
interior knots are solved for mean and sd while staying close to the best parametric curve.

Correlation: a hand-set target Pearson matrix (domain knowledge of Spotify / Echo Nest audio
features) is converted pair-by-pair to the normal-score correlation that reproduces it through
the fitted marginals (NORTA, Gauss-Hermite quadrature + Brent), then projected to the nearest
correlation matrix with eigenvalues >= EIG_FLOOR (Higham 2002 alternating projections).
"""
import math
import os
import sys

import numpy as np
from scipy import optimize, special

OUT_RS = os.environ.get("OUT_RS", "src/synth/params.rs")
PAIR_SUMMARY = ""
SEED = 20190211
N_SIM = 1_000_000
EIG_FLOOR = 1e-2
KEY_PAIR_MIN = 0.45

NAMES = ["duration", "release_year", "us_popularity_estimate", "acousticness", "beat_strength",
         "bounciness", "danceability", "dyn_range_mean", "energy", "flatness", "instrumentalness",
         "liveness", "loudness", "mechanism", "organism", "speechiness", "tempo", "valence"]
IDX = {n: i for i, n in enumerate(NAMES)}

# std, mean, p25, p50, p75, min, max  (MSSD_NOTES.md)
TARGETS = {
    "duration": (108.40, 233.19, 176.75, 217.91, 267.17, 30.00, 1799.99),
    "release_year": (11.03, 2009.26, 2006, 2013, 2017, 1950, 2019),
    "us_popularity_estimate": (2.736, 95.574, 93.382, 95.754, 97.921, 90, 100),
    "acousticness": (0.3426, 0.3470, 0.0267, 0.2205, 0.6528, 0, 0.9958),
    "beat_strength": (0.1718, 0.4617, 0.3317, 0.4593, 0.5852, 0, 0.99995),
    "bounciness": (0.1990, 0.4791, 0.3207, 0.4796, 0.6339, 0, 0.9863),
    "danceability": (0.1858, 0.5565, 0.4327, 0.5727, 0.6976, 0, 0.9978),
    "dyn_range_mean": (2.680, 7.848, 5.822, 7.520, 9.477, 0, 52.61),
    "energy": (0.2603, 0.5918, 0.4098, 0.6261, 0.8073, 0, 0.99998),
    "flatness": (0.0552, 0.9935, 0.9691, 1.0024, 1.0292, 0, 1.1678),
    "instrumentalness": (0.3448, 0.2070, 2.5e-7, 0.000216, 0.3133, 0, 0.999996),
    "liveness": (0.1924, 0.2127, 0.0968, 0.1294, 0.2700, 0, 1),
    "loudness": (5.733, -9.605, -11.71, -8.084, -5.791, -60, 6.275),
    "mechanism": (0.2562, 0.4996, 0.2692, 0.4854, 0.7173, 0, 1),
    "organism": (0.2509, 0.4619, 0.2532, 0.4549, 0.6480, 0, 0.9791),
    "speechiness": (0.1386, 0.1045, 0.0363, 0.0501, 0.1015, 0, 0.9706),
    "tempo": (30.43, 120.07, 96.03, 119.95, 139.86, 0, 249.99),
    "valence": (0.2725, 0.4815, 0.2520, 0.4736, 0.7050, 0, 0.99999),
}
# Range the generator may produce before rounding (release_year: round() maps [1949.5, 2019.49] -> 1950..2019).
RANGE = {n: (t[5], t[6]) for n, t in TARGETS.items()}
RANGE["release_year"] = (1949.5, 2019.49)

# Features whose parametric fit is replaced by 9 knots when it misses by > KNOT_THRESHOLD sd.
KNOT_THRESHOLD = 0.04
KNOT_U = {
    "duration": [0.0, 0.02, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999, 1.0],
    "liveness": [0.0, 0.05, 0.25, 0.5, 0.75, 0.9, 0.97, 0.999, 1.0],
    "tempo": [0.0, 0.003, 0.05, 0.25, 0.5, 0.75, 0.95, 0.997, 1.0],
    "release_year": [0.0, 0.03, 0.12, 0.25, 0.5, 0.75, 0.87, 0.997, 1.0],
    "speechiness": [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.97, 0.99, 1.0],
}
# Extra pinned knots: release_year x(0.997) = 2018.5 keeps 2019 (tracks were collected in
# 2018) at 0.3% of tracks instead of letting the fit put several % there.
KNOT_PINNED = {"release_year": {0.997: 2018.5}}
KNOT_SHAPE_W = 0.02
# ... or when more than PILE_THRESHOLD of the probability sits on the min/max clamp.
PILE_THRESHOLD = 0.005

# ----------------------------------------------------------------------------------------------
# Quantile families (numpy mirror of Marginal::quantile in params.rs)
# ----------------------------------------------------------------------------------------------

def kum_unit(u, a, b):
    u = np.clip(u, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return (-np.expm1(np.log1p(-u) / b)) ** (1.0 / a)


def quantile(m, u, z):
    kind = m["kind"]
    if kind == "Kumaraswamy":
        return m["lo"] + (m["hi"] - m["lo"]) * kum_unit(u, m["a"], m["b"])
    if kind == "ZeroInflatedKumaraswamy":
        p0, tl, th = m["p0"], m["tiny_lo"], m["tiny_hi"]
        tiny = np.exp(math.log(tl) + math.log(th / tl) * (np.asarray(u) / p0))
        v = (np.asarray(u) - p0) / (1.0 - p0)
        body = th + (m["hi"] - th) * kum_unit(v, m["a"], m["b"])
        return np.where(np.asarray(u) < p0, tiny, body)
    if kind == "LogNormal":
        s = m["sign"]
        return np.clip(m["shift"] + s * np.exp(m["mu"] + s * m["sigma"] * z), m["min"], m["max"])
    if kind == "Normal":
        return np.clip(m["mean"] + m["sd"] * z, m["min"], m["max"])
    if kind == "Knots":
        k = np.asarray(m["knots"])
        return np.interp(u, k[:, 0], k[:, 1])
    raise ValueError(kind)


N_GRID = 400_000
U_GRID = (np.arange(N_GRID) + 0.5) / N_GRID
Z_GRID = special.ndtri(U_GRID)
U_Q = np.array([0.25, 0.5, 0.75])
Z_Q = special.ndtri(U_Q)


def exact_stats(m, grid=(U_GRID, Z_GRID)):
    """(sd, mean, p25, p50, p75) of Q(U), U ~ Unif(0,1)."""
    if m["kind"] == "Knots":  # closed form for a piecewise-linear quantile
        k = np.asarray(m["knots"])
        du = np.diff(k[:, 0]); a = k[:-1, 1]; b = k[1:, 1]
        mean = np.sum(du * (a + b) / 2)
        m2 = np.sum(du * (a * a + a * b + b * b) / 3)
        sd = math.sqrt(max(m2 - mean * mean, 0.0))
    else:
        x = quantile(m, grid[0], grid[1])
        mean, sd = x.mean(), x.std()
    q = quantile(m, U_Q, Z_Q)
    return np.array([sd, mean, *q])


def residuals(name, s):
    t = TARGETS[name]
    sd = t[0]
    r = np.array([(s[0] - sd) / sd, (s[1] - t[1]) / sd, (s[2] - t[2]) / sd,
                  (s[3] - t[3]) / sd, (s[4] - t[4]) / sd])
    if name == "instrumentalness":  # quartiles live on a log scale
        r[2] = 0.2 * (math.log10(max(s[2], 1e-300)) - math.log10(t[2]))
        r[3] = 0.2 * (math.log10(max(s[3], 1e-300)) - math.log10(t[3]))
    return r


# ----------------------------------------------------------------------------------------------
# Family fitters
# ----------------------------------------------------------------------------------------------

COARSE_N = 40_000
COARSE = ((np.arange(COARSE_N) + 0.5) / COARSE_N, special.ndtri((np.arange(COARSE_N) + 0.5) / COARSE_N))


def _fit(name, make, starts, bounds=None):
    """multi-start least squares on a coarse grid, then polish on the fine grid."""
    def f(p, grid):
        try:
            r = residuals(name, exact_stats(make(p), grid))
        except (FloatingPointError, ValueError, OverflowError):
            return np.full(5, 1e3)
        return np.where(np.isfinite(r), r, 1e3)
    kw = {} if bounds is None else {"bounds": bounds}
    best = None
    for p0 in starts:
        try:
            r = optimize.least_squares(f, p0, args=(COARSE,), **kw)
        except ValueError:
            continue
        if best is None or r.cost < best.cost:
            best = r
    r = optimize.least_squares(f, best.x, args=((U_GRID, Z_GRID),), **kw)
    return make(r.x), r.cost


def fit_kumaraswamy(name):
    lo, hi = RANGE[name]
    make = lambda p: {"kind": "Kumaraswamy", "lo": lo, "hi": hi, "a": math.exp(p[0]), "b": math.exp(p[1])}
    starts = [[math.log(a), math.log(b)] for a in (0.3, 1.0, 3.0) for b in (0.5, 2.0, 10.0)]
    return _fit(name, make, starts)


def fit_lognormal(name, sign):
    lo, hi = RANGE[name]
    t = TARGETS[name]
    make = lambda p: {"kind": "LogNormal", "shift": p[0], "sign": float(sign), "mu": p[1],
                      "sigma": math.exp(p[2]), "min": lo, "max": hi}
    w = hi - lo
    starts = []
    for sh in (lo - 0.5 * w, lo - 0.05 * w, t[3] - sign * 0.5 * t[0], hi + 0.05 * w, hi + 0.5 * w):
        d = sign * (t[3] - sh)
        if d <= 0:
            continue
        for sig in (0.25, 0.8):
            starts.append([sh, math.log(d), math.log(sig)])
    bounds = None
    if name == "release_year":
        # the reflected lognormal's upper end is `shift`; keep it inside the range so that no
        # probability mass piles up on the clamp at 2019 (tracks were collected in 2018).
        bounds = ([1900.0, -5.0, -4.0], [2019.49, 10.0, 3.0])
        starts = [[2019.0, math.log(6.0), math.log(0.7)], [2019.4, math.log(8.0), math.log(0.5)]]
    return _fit(name, make, starts, bounds)


def fit_normal(name):
    lo, hi = RANGE[name]
    t = TARGETS[name]
    make = lambda p: {"kind": "Normal", "mean": p[0], "sd": math.exp(p[1]), "min": lo, "max": hi}
    return _fit(name, make, [[t[1], math.log(t[0])], [t[3], math.log(t[0])]])


def fit_zik(name):
    lo, hi = RANGE[name]
    # p = (logit p0, log10 tiny_lo, log10 tiny_hi - log10 tiny_lo, log a, log b)
    def make(p):
        tl = 10 ** p[1]
        return {"kind": "ZeroInflatedKumaraswamy", "p0": special.expit(p[0]), "tiny_lo": tl,
                "tiny_hi": tl * 10 ** math.exp(p[2]), "hi": hi, "a": math.exp(p[3]), "b": math.exp(p[4])}
    starts = [[special.logit(p0), -10.0, math.log(7.0), math.log(a), math.log(b)]
              for p0 in (0.55, 0.62) for a in (0.3, 0.7) for b in (0.3, 0.8)]
    return _fit(name, make, starts)


def fit_knots(name, base):
    """9-knot piecewise-linear quantile.  Knots at u = 0, 0.25, 0.5, 0.75, 1 are pinned to min,
    the target quartiles and max (plus KNOT_PINNED extras); the other knots are solved for mean
    and sd.  Shape regulariser: every segment's width (x_k+1 - x_k) is pulled, on a log scale and
    with a small weight, towards the width of the best parametric curve `base` over the same u
    interval, so the knot curve keeps the parametric density shape (no flat / spiky segments)."""
    t = TARGETS[name]
    lo, hi = RANGE[name]
    us = np.array(KNOT_U[name])
    fixed = {0.0: lo, 0.25: t[2], 0.5: t[3], 0.75: t[4], 1.0: hi, **KNOT_PINNED.get(name, {})}
    free = [i for i, u in enumerate(us) if u not in fixed]
    inner = np.clip(us, 1e-9, 1 - 1e-9)
    x_base = np.clip(quantile(base, inner, special.ndtri(inner)), lo, hi)
    x_base[0], x_base[-1] = lo, hi
    # floor: half the width a uniform density over [min, max] would give, so that a clamp pile-up
    # of the base curve (zero width) is not copied into the knots
    inc_base = np.maximum(np.diff(x_base), 0.5 * (hi - lo) * np.diff(us))

    def make(p):
        xs = np.array([fixed.get(u, 0.0) for u in us], dtype=float)
        xs[free] = p
        return {"kind": "Knots", "knots": [(float(u), float(x)) for u, x in zip(us, xs)]}

    def f(p):
        m = make(p)
        xs = np.array([x for _, x in m["knots"]])
        inc = np.diff(xs)
        shape = KNOT_SHAPE_W * np.log(np.maximum(inc, 1e-12 * t[0]) / inc_base)
        mono = np.minimum(inc, 0.0) / t[0] * 100.0  # monotonicity penalty
        r = residuals(name, exact_stats(m))
        return np.concatenate([r, shape, mono])

    x0 = x_base[free].copy()
    for i, k in enumerate(free):  # start strictly between pinned neighbours
        x0[i] = np.clip(x0[i], lo, hi)
    r = optimize.least_squares(f, x0)
    m = make(r.x)
    return m, 0.5 * float(np.sum(residuals(name, exact_stats(m)) ** 2))


FAMILIES = {  # candidate families per feature
    "instrumentalness": ["zik"],
}
DEFAULT_FAMILIES = ["kumaraswamy", "lognormal+", "lognormal-", "normal"]


def pile_share(m):
    if m["kind"] not in ("LogNormal", "Normal"):
        return 0.0
    x = quantile(m, U_GRID, Z_GRID)
    return float(np.mean((x <= m["min"]) | (x >= m["max"])))


def fit_feature(name):
    cands = []
    for fam in FAMILIES.get(name, DEFAULT_FAMILIES):
        if name == "release_year" and fam != "lognormal-":
            # Kumaraswamy/normal cannot produce the left tail (cost >30x worse); skip for speed
            if fam != "kumaraswamy":
                continue
        if fam == "kumaraswamy":
            cands.append(fit_kumaraswamy(name))
        elif fam == "lognormal+":
            cands.append(fit_lognormal(name, +1))
        elif fam == "lognormal-":
            cands.append(fit_lognormal(name, -1))
        elif fam == "normal":
            cands.append(fit_normal(name))
        elif fam == "zik":
            cands.append(fit_zik(name))
    cands.sort(key=lambda c: c[1])
    best, cost = cands[0]
    maxres = np.max(np.abs(residuals(name, exact_stats(best))))
    log = [f"{c[0]['kind']}{'' if c[0]['kind'] != 'LogNormal' else ('+' if c[0]['sign'] > 0 else '-')}:{c[1]:.2e}"
           for c in cands]
    if name in KNOT_U and maxres > KNOT_THRESHOLD:
        km, kcost = fit_knots(name, best)
        log.append(f"Knots:{kcost:.2e}")
        if kcost < 0.25 * cost:
            best, cost = km, kcost
    elif name in KNOT_U and pile_share(best) > PILE_THRESHOLD:
        km, kcost = fit_knots(name, best)
        log.append(f"Knots:{kcost:.2e} (clamp pile-up {pile_share(best):.2%})")
        if kcost < cost:
            best, cost = km, kcost
    print(f"  {name:24s} -> {best['kind']:24s} cost {cost:.2e}   [{' '.join(log)}]", flush=True)
    return best


# ----------------------------------------------------------------------------------------------
# Discrete tables: exponential tilting of a realistic prior to the published mean / sd
# ----------------------------------------------------------------------------------------------

def tilt(prior, mean, sd):
    k = np.arange(len(prior), dtype=float)
    prior = np.asarray(prior, float) / np.sum(prior)

    def dist(l):
        w = prior * np.exp(l[0] * (k - mean) / 5 + l[1] * ((k - mean) ** 2 - sd * sd) / 25)
        return w / w.sum()

    def f(l):
        p = dist(l)
        m = np.sum(p * k)
        return [m - mean, math.sqrt(np.sum(p * (k - m) ** 2)) - sd]

    sol = optimize.root(f, [0.0, 0.0], tol=1e-14)
    p = dist(sol.x)
    assert np.max(np.abs(f(sol.x))) < 1e-9, f(sol.x)
    return p


# prior share of keys C..B in large Spotify audio-feature dumps: C, G, D, A, C# most common, D# rarest
KEY_PRIOR = [0.120, 0.095, 0.100, 0.030, 0.075, 0.085, 0.068, 0.115, 0.065, 0.100, 0.068, 0.079]
# time_signature 0..5: 4/4 dominant, then 3/4; 0/1 are Echo Nest "unknown/irregular" codes
TS_PRIOR = [0.003, 0.012, 0.001, 0.095, 0.874, 0.015]
MODE_MAJOR_P = 0.6515

# ----------------------------------------------------------------------------------------------
# Correlation
# ----------------------------------------------------------------------------------------------

# Target Pearson correlations between the *feature values* (not normal scores).
PAIRS = {
    ("energy", "loudness"): 0.75,
    ("acousticness", "energy"): -0.70,
    ("acousticness", "loudness"): -0.58,
    ("danceability", "valence"): 0.45,
    ("energy", "valence"): 0.35,
    ("loudness", "valence"): 0.28,
    ("danceability", "energy"): 0.20,
    ("danceability", "loudness"): 0.25,
    ("acousticness", "danceability"): -0.22,
    ("acousticness", "valence"): -0.18,
    ("instrumentalness", "loudness"): -0.35,
    ("energy", "instrumentalness"): -0.15,
    ("instrumentalness", "valence"): -0.22,
    ("danceability", "instrumentalness"): -0.15,
    ("acousticness", "instrumentalness"): 0.15,
    ("instrumentalness", "speechiness"): -0.12,
    ("duration", "instrumentalness"): 0.10,
    ("instrumentalness", "us_popularity_estimate"): -0.08,
    ("energy", "liveness"): 0.15,
    ("liveness", "speechiness"): 0.12,
    ("acousticness", "liveness"): -0.05,
    ("danceability", "speechiness"): 0.20,
    ("energy", "speechiness"): 0.08,
    ("energy", "tempo"): 0.18,
    ("loudness", "tempo"): 0.15,
    ("danceability", "tempo"): -0.10,
    ("danceability", "duration"): -0.10,
    ("duration", "speechiness"): -0.08,
    ("duration", "valence"): -0.08,
    ("duration", "release_year"): -0.10,
    # loudness war / modern production
    ("loudness", "release_year"): 0.35,
    ("acousticness", "release_year"): -0.25,
    ("energy", "release_year"): 0.18,
    ("danceability", "release_year"): 0.12,
    ("release_year", "valence"): -0.15,
    ("dyn_range_mean", "release_year"): -0.25,
    ("release_year", "speechiness"): 0.12,
    ("release_year", "us_popularity_estimate"): 0.10,
    ("danceability", "us_popularity_estimate"): 0.08,
    ("loudness", "us_popularity_estimate"): 0.08,
    # MSSD-only descriptors
    ("beat_strength", "danceability"): 0.55,
    ("beat_strength", "energy"): 0.25,
    ("beat_strength", "bounciness"): 0.35,
    ("acousticness", "beat_strength"): -0.25,
    ("beat_strength", "valence"): 0.25,
    ("beat_strength", "mechanism"): 0.35,
    ("bounciness", "energy"): 0.55,
    ("bounciness", "danceability"): 0.30,
    ("acousticness", "bounciness"): -0.45,
    ("bounciness", "loudness"): 0.40,
    ("bounciness", "valence"): 0.25,
    ("bounciness", "mechanism"): 0.20,
    ("dyn_range_mean", "loudness"): -0.45,
    ("dyn_range_mean", "energy"): -0.25,
    ("acousticness", "dyn_range_mean"): 0.25,
    ("dyn_range_mean", "flatness"): -0.30,
    ("flatness", "loudness"): 0.15,
    ("energy", "flatness"): 0.15,
    ("acousticness", "organism"): 0.65,
    ("energy", "organism"): -0.55,
    ("mechanism", "organism"): -0.60,
    ("loudness", "organism"): -0.45,
    ("danceability", "organism"): -0.25,
    ("organism", "valence"): -0.10,
    ("energy", "mechanism"): 0.35,
    ("acousticness", "mechanism"): -0.40,
    ("danceability", "mechanism"): 0.30,
    ("loudness", "mechanism"): 0.30,
    ("instrumentalness", "mechanism"): 0.10,
}

GH_N = 96
_gh_x, _gh_w = special.roots_hermitenorm(GH_N)
_gh_w = _gh_w / _gh_w.sum()


def _moments_gh(m):
    x = quantile(m, special.ndtr(_gh_x), _gh_x)
    mu = np.sum(_gh_w * x)
    return x, mu, math.sqrt(np.sum(_gh_w * (x - mu) ** 2))


def pearson_from_normal_corr(mi, mj, rho):
    xi, mui, sdi = _moments_gh(mi)
    z2 = rho * _gh_x[:, None] + math.sqrt(1 - rho * rho) * _gh_x[None, :]
    xj = quantile(mj, special.ndtr(z2), z2)
    _, muj, sdj = _moments_gh(mj)
    e = np.sum(_gh_w[:, None] * _gh_w[None, :] * (xi[:, None] - mui) * (xj - muj))
    return e / (sdi * sdj)


def normal_corr_for(mi, mj, target):
    f = lambda r: pearson_from_normal_corr(mi, mj, r) - target
    lo, hi = -0.995, 0.995
    if f(lo) > 0:
        return lo
    if f(hi) < 0:
        return hi
    return optimize.brentq(f, lo, hi, xtol=1e-6)


def nearest_correlation(a, eig_floor, iters=2000):
    """Higham (2002) alternating projections with Dykstra correction, then eigenvalue floor."""
    y = a.copy()
    ds = np.zeros_like(a)
    for _ in range(iters):
        r = y - ds
        w, v = np.linalg.eigh(r)
        x = (v * np.maximum(w, eig_floor)) @ v.T
        ds = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        if np.linalg.norm(y_new - y) < 1e-12:
            y = y_new
            break
        y = y_new
    # final safety: floor eigenvalues and rescale to unit diagonal
    for _ in range(50):
        w, v = np.linalg.eigh(y)
        if w.min() >= eig_floor * 0.999:
            break
        x = (v * np.maximum(w, eig_floor)) @ v.T
        d = np.sqrt(np.diag(x))
        y = x / np.outer(d, d)
    return (y + y.T) / 2


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------

def main():
    np.seterr(over="ignore", invalid="ignore")
    print("Fitting marginals (cost = 0.5*sum of squared sd-normalised residuals):", flush=True)
    margs = {n: fit_feature(n) for n in NAMES}

    print("\nDiscrete tables", flush=True)
    key_p = tilt(KEY_PRIOR, 5.272, 3.564)
    ts_p = tilt(TS_PRIOR, 3.875, 0.4852)

    print("\nCorrelation: NORTA conversion of target Pearson correlations", flush=True)
    n = len(NAMES)
    target = np.eye(n)
    rz = np.eye(n)
    for (a, b), v in PAIRS.items():
        i, j = IDX[a], IDX[b]
        assert target[i, j] == 0, (a, b)
        target[i, j] = target[j, i] = v
        r = normal_corr_for(margs[a], margs[b], v)
        rz[i, j] = rz[j, i] = r
    eig_target = np.linalg.eigvalsh(target).min()
    eig_rz = np.linalg.eigvalsh(rz).min()
    R = nearest_correlation(rz, EIG_FLOOR)
    # The normal-score matrix is not PD, so the projection shrinks the strongest pairs a little.
    # Re-inflate the pairs with |target| >= KEY_PAIR_MIN until the projected matrix hits them.
    key = np.abs(target) >= KEY_PAIR_MIN
    np.fill_diagonal(key, False)
    adj = np.zeros_like(rz)
    for _ in range(60):
        d = np.where(key, rz - R, 0.0)
        if np.abs(d).max() < 2e-4:
            break
        adj += d
        R = nearest_correlation(np.clip(rz + adj, -0.999, 0.999), EIG_FLOOR)
    print(f"  key pairs (|target| >= {KEY_PAIR_MIN}): max |R - Rz| = {np.abs(np.where(key, R - rz, 0)).max():.4f}")
    R = np.round(R, 6)
    np.fill_diagonal(R, 1.0)
    eig_R = np.linalg.eigvalsh(R).min()
    L = np.linalg.cholesky(R)
    print(f"  min eigenvalue: target Pearson {eig_target:.4f}, normal-score {eig_rz:.4f}, "
          f"projected R {eig_R:.4f}; max |R - Rz| = {np.abs(R - rz).max():.4f}")

    # acoustic vectors: 8 R-orthonormal directions of z (audio features only) + noise
    rng_w = np.random.default_rng(SEED + 1)
    W = rng_w.normal(size=(8, n))
    W[:, [IDX["duration"], IDX["release_year"], IDX["us_popularity_estimate"]]] = 0.0
    # Gram-Schmidt in the metric R so that W R W^T = I (embedding dims mutually uncorrelated)
    for k in range(8):
        for l in range(k):
            W[k] -= (W[k] @ R @ W[l]) * W[l]
        W[k] /= math.sqrt(W[k] @ R @ W[k])
    AV_SD, AV_SIGNAL = 0.35, 0.6  # total sd, share of variance explained by the audio features
    W *= AV_SD * math.sqrt(AV_SIGNAL)
    AV_NOISE = AV_SD * math.sqrt(1 - AV_SIGNAL)

    # ------------------------------------------------------------------ simulation check
    print(f"\nVerification by simulation ({N_SIM:,} draws, seed {SEED})", flush=True)
    rng = np.random.default_rng(SEED)
    zs = rng.standard_normal((N_SIM, n)) @ L.T
    us = special.ndtr(zs)
    X = np.empty_like(zs)
    for j, name in enumerate(NAMES):
        X[:, j] = quantile(margs[name], us[:, j], zs[:, j])
    X[:, IDX["release_year"]] = np.round(X[:, IDX["release_year"]])
    rows = []
    hdr = f"{'feature':24s} {'stat':>5s} {'target':>11s} {'achieved':>11s} {'rel.err':>8s} {'err/range':>9s}"
    print(hdr)
    worst = []
    for j, name in enumerate(NAMES):
        t = TARGETS[name]
        x = X[:, j]
        got = [x.std(), x.mean(), *np.percentile(x, [25, 50, 75]), x.min(), x.max()]
        rng_w = t[6] - t[5]
        for k, st in enumerate(["sd", "mean", "p25", "p50", "p75", "min", "max"]):
            tv, gv = t[k], got[k]
            rel = (gv - tv) / abs(tv) if tv != 0 else float("nan")
            rr = (gv - tv) / rng_w
            rows.append((name, st, tv, gv, rel, rr))
            print(f"{name:24s} {st:>5s} {tv:11.6g} {gv:11.6g} {rel:8.2%} {rr:9.2%}")
            if st in ("sd", "mean", "p25", "p50", "p75"):
                worst.append((abs(rr), name, st))
        edge = np.mean((x <= RANGE[name][0]) | (x >= RANGE[name][1]))
        if edge > 1e-4:
            print(f"{'':24s} (share of draws sitting on the clamp at min/max: {edge:.3%})")
    print("largest |err/range|:", sorted(worst, reverse=True)[:3])

    C = np.corrcoef(X, rowvar=False)
    print("\nPearson correlation of the simulated feature values (target -> achieved):")
    corr_rows = []
    for (a, b), v in sorted(PAIRS.items(), key=lambda kv: -abs(kv[1])):
        i, j = IDX[a], IDX[b]
        corr_rows.append((a, b, v, C[i, j], R[i, j]))
        print(f"  {a:>22s} ~ {b:<22s} target {v:+.3f}  achieved {C[i, j]:+.3f}  (R_z {R[i, j]:+.3f})")
    offt = [abs(C[i, j] - target[i, j]) for i in range(n) for j in range(i + 1, n)]
    print(f"  max |achieved - target| over all {len(offt)} pairs: {max(offt):.3f}")
    global PAIR_SUMMARY
    PAIR_SUMMARY = (f"max |achieved - target| over all {len(offt)} pairs (unlisted pairs target 0): "
                    f"{max(offt):.3f}")

    # discrete check
    kd = rng.choice(12, size=N_SIM, p=key_p)
    td = rng.choice(6, size=N_SIM, p=ts_p)
    md = rng.random(N_SIM) < MODE_MAJOR_P
    disc = [("key", 3.564, 5.272, 2, 5, 8, kd), ("mode", 0.4765, 0.6515, 0, 1, 1, md.astype(float)),
            ("time_signature", 0.4852, 3.875, 4, 4, 4, td)]
    print("\nDiscrete (independent draws):")
    disc_rows = []
    for nm, sd, mean, q1, q2, q3, x in disc:
        got = (x.std(), x.mean(), *np.percentile(x, [25, 50, 75]))
        disc_rows.append((nm, (sd, mean, q1, q2, q3), got))
        print(f"  {nm:15s} target sd {sd:.4f} mean {mean:.4f} q {q1}/{q2}/{q3}   achieved sd {got[0]:.4f} "
              f"mean {got[1]:.4f} q {got[2]:g}/{got[3]:g}/{got[4]:g}")
    A = zs @ W.T + AV_NOISE * rng.standard_normal((N_SIM, 8))
    print(f"  acoustic_vector sd {A.std(0).round(3)}  max|corr| among them "
          f"{np.abs(np.corrcoef(A, rowvar=False) - np.eye(8)).max():.3f}")
    av_corr = np.corrcoef(np.hstack([A, X]), rowvar=False)[:8, 8:]
    print(f"  max |corr(acoustic_vector, feature)| {np.abs(av_corr).max():.3f}")

    write_rust(margs, R, L, key_p, ts_p, W, AV_NOISE, rows, corr_rows, disc_rows, eig_R)
    print(f"\nwrote {OUT_RS}")


# ----------------------------------------------------------------------------------------------
# Rust output
# ----------------------------------------------------------------------------------------------

def f64(v):
    s = repr(float(v))
    if "e" in s or "E" in s:
        mant, ex = s.lower().split("e")
        if "." not in mant:
            mant += ".0"
        return f"{mant}e{int(ex)}"
    if "." not in s:
        s += ".0"
    return s


def rust_marginal(m):
    k = m["kind"]
    if k == "Kumaraswamy":
        return f"Marginal::Kumaraswamy {{ lo: {f64(m['lo'])}, hi: {f64(m['hi'])}, a: {f64(m['a'])}, b: {f64(m['b'])} }}"
    if k == "ZeroInflatedKumaraswamy":
        return ("Marginal::ZeroInflatedKumaraswamy { " + ", ".join(
            f"{f}: {f64(m[f])}" for f in ("p0", "tiny_lo", "tiny_hi", "hi", "a", "b")) + " }")
    if k == "LogNormal":
        return ("Marginal::LogNormal { " + ", ".join(
            f"{f}: {f64(m[f])}" for f in ("shift", "sign", "mu", "sigma", "min", "max")) + " }")
    if k == "Normal":
        return ("Marginal::Normal { " + ", ".join(f"{f}: {f64(m[f])}" for f in ("mean", "sd", "min", "max")) + " }")
    if k == "Knots":
        return "Marginal::Knots(&[" + ", ".join(f"({f64(u)}, {f64(x)})" for u, x in m["knots"]) + "])"
    raise ValueError(k)


def write_rust(margs, R, L, key_p, ts_p, W, av_noise, rows, corr_rows, disc_rows, eig_R):
    used = sorted({m["kind"] for m in margs.values()})
    o = []
    w = o.append
    w("// Synthetic Spotify MSSD track-feature generator parameters (Gaussian copula).")
    w("// GENERATED by tools/fit_track_features.py -- do not edit by hand; re-run the script instead.")
    w("// Fitted to the \"Track-feature marginals over all 3,706,388 tracks\" table of")
    w("// shared/data/mssd/MSSD_NOTES.md (std, mean, p25, p50, p75, min, max).")
    w("//")
    w("// Usage: z = CORRELATION_CHOLESKY * n, n ~ N(0, I_18); u_j = Phi(z_j);")
    w("//        x_j = CONTINUOUS[j].1.quantile(u_j, z_j); release_year = x.round().")
    w("//        key ~ KEY_P, time_signature ~ TIME_SIGNATURE_P, mode = major w.p. MODE_MAJOR_P")
    w("//        (independent of the copula); acoustic_vector_k = sum_j ACOUSTIC_LOADINGS[k][j] z_j")
    w("//        + ACOUSTIC_NOISE_SD * N(0,1).")
    w("//")
    w(f"// Achieved vs target, {N_SIM:,} simulated tracks (seed {SEED}); err/range = (achieved - target)/(max - min).")
    w("// feature                   stat       target     achieved   rel.err  err/range")
    for name, st, tv, gv, rel, rr in rows:
        rels = f"{rel:8.2%}" if rel == rel else "       -"
        w(f"// {name:24s} {st:>5s} {tv:12.6g} {gv:12.6g} {rels} {rr:9.2%}")
    for nm, t, g in disc_rows:
        w(f"// {nm:24s} sd/mean/p25/p50/p75 target {t[0]:.4f}/{t[1]:.4f}/{t[2]:g}/{t[3]:g}/{t[4]:g}"
          f" achieved {g[0]:.4f}/{g[1]:.4f}/{g[2]:g}/{g[3]:g}/{g[4]:g}")
    w("//")
    w("// Pearson correlation of simulated feature values, target -> achieved (key pairs):")
    for a, b, v, c, r in corr_rows[:12]:
        w(f"//   {a:>22s} ~ {b:<22s} {v:+.3f} -> {c:+.3f}   (normal-score R {r:+.3f})")
    w(f"// {PAIR_SUMMARY}")
    w(f"// CORRELATION min eigenvalue: {eig_R:.4f}")
    w("")
    w("#![allow(dead_code)]")
    w("")
    w("/// Closed-form marginal quantile functions of the copula.")
    w("#[derive(Clone, Copy, Debug, PartialEq)]")
    w("pub enum Marginal {")
    if "Kumaraswamy" in used:
        w("    /// x = lo + (hi-lo) * (1 - (1-u)^(1/b))^(1/a)")
        w("    Kumaraswamy { lo: f64, hi: f64, a: f64, b: f64 },")
    if "ZeroInflatedKumaraswamy" in used:
        w("    /// u < p0: log-uniform on [tiny_lo, tiny_hi] (x = tiny_lo * (tiny_hi/tiny_lo)^(u/p0));")
        w("    /// else Kumaraswamy on [tiny_hi, hi] evaluated at (u-p0)/(1-p0).  Monotone and continuous.")
        w("    ZeroInflatedKumaraswamy { p0: f64, tiny_lo: f64, tiny_hi: f64, hi: f64, a: f64, b: f64 },")
    if "LogNormal" in used:
        w("    /// x = clamp(shift + sign * exp(mu + sign * sigma * z), min, max), sign = +1 or -1.")
        w("    /// (sign also multiplies z so that x is increasing in z: sign = -1 is a reflected lognormal")
        w("    /// with a long left tail and upper end `shift`.)")
        w("    LogNormal { shift: f64, sign: f64, mu: f64, sigma: f64, min: f64, max: f64 },")
    if "Normal" in used:
        w("    /// x = clamp(mean + sd * z, min, max)")
        w("    Normal { mean: f64, sd: f64, min: f64, max: f64 },")
    if "Knots" in used:
        w("    /// Piecewise-linear quantile through (u_k, x_k), u_0 = 0 < ... < u_last = 1.")
        w("    Knots(&'static [(f64, f64)]),")
    w("}")
    w("")
    w("#[inline]")
    w("fn kumaraswamy_unit(u: f64, a: f64, b: f64) -> f64 {")
    w("    let u = u.clamp(0.0, 1.0);")
    w("    // 1 - (1-u)^(1/b), accurate for small u")
    w("    (-((-u).ln_1p() / b).exp_m1()).powf(1.0 / a)")
    w("}")
    w("")
    w("impl Marginal {")
    w("    /// Quantile at u; `z` must be Phi^{-1}(u) (the copula's normal score), used by the")
    w("    /// LogNormal / Normal variants so that no inverse normal CDF is needed.")
    w("    pub fn quantile(&self, u: f64, z: f64) -> f64 {")
    w("        match *self {")
    if "Kumaraswamy" in used:
        w("            Marginal::Kumaraswamy { lo, hi, a, b } => lo + (hi - lo) * kumaraswamy_unit(u, a, b),")
    if "ZeroInflatedKumaraswamy" in used:
        w("            Marginal::ZeroInflatedKumaraswamy { p0, tiny_lo, tiny_hi, hi, a, b } => {")
        w("                if u < p0 {")
        w("                    (tiny_lo.ln() + (tiny_hi / tiny_lo).ln() * (u.max(0.0) / p0)).exp()")
        w("                } else {")
        w("                    tiny_hi + (hi - tiny_hi) * kumaraswamy_unit((u - p0) / (1.0 - p0), a, b)")
        w("                }")
        w("            }")
    if "LogNormal" in used:
        w("            Marginal::LogNormal { shift, sign, mu, sigma, min, max } => {")
        w("                (shift + sign * (mu + sign * sigma * z).exp()).clamp(min, max)")
        w("            }")
    if "Normal" in used:
        w("            Marginal::Normal { mean, sd, min, max } => (mean + sd * z).clamp(min, max),")
    if "Knots" in used:
        w("            Marginal::Knots(k) => {")
        w("                let u = u.clamp(0.0, 1.0);")
        w("                let mut i = 1;")
        w("                while i < k.len() - 1 && u > k[i].0 {")
        w("                    i += 1;")
        w("                }")
        w("                let (u0, x0) = k[i - 1];")
        w("                let (u1, x1) = k[i];")
        w("                if u1 > u0 { x0 + (x1 - x0) * (u - u0) / (u1 - u0) } else { x1 }")
        w("            }")
    w("        }")
    w("    }")
    w("}")
    w("")
    w("/// Continuous copula features, official tf_*.csv column names, in copula order.")
    w("/// Fitted by tools/fit_track_features.py to the MSSD_NOTES.md marginals (see the table at the top).")
    w("/// release_year must be rounded to an integer after the quantile.")
    w("pub const CONTINUOUS: [(&str, Marginal); 18] = [")
    for nm in NAMES:
        w(f"    (\"{nm}\", {rust_marginal(margs[nm])}),")
    w("];")
    w("")

    def mat(name, M, doc, dims="18]; 18", digits=6):
        w(doc)
        w(f"pub const {name}: [[f64; {dims}] = [")
        for row in M:
            w("    [" + ", ".join(f64(round(float(v), digits)) for v in row) + "],")
        w("];")
        w("")

    mat("CORRELATION", R,
        "/// Normal-score correlation matrix R of the copula (order of CONTINUOUS), positive definite\n"
        f"/// (min eigenvalue {eig_R:.4f}).  Fitted by tools/fit_track_features.py: hand-set target Pearson correlations of\n"
        "/// the feature values, converted through the fitted MSSD_NOTES.md marginals (NORTA) and\n"
        "/// projected to the nearest correlation matrix (Higham).")
    mat("CORRELATION_CHOLESKY", L,
        "/// Lower-triangular Cholesky factor of CORRELATION (z = L n), computed by tools/fit_track_features.py.",
        digits=12)
    w("/// P(key = k), k = 0 (C) .. 11 (B).  Fitted by tools/fit_track_features.py to the MSSD_NOTES.md key mean 5.272 / sd 3.564")
    w("/// (exponential tilt of typical Spotify key shares: C, G, D, A, C# common, D# rare).")
    w("pub const KEY_P: [f64; 12] = [" + ", ".join(f64(round(v, 6)) for v in key_p) + "];")
    w("")
    w("/// P(time_signature = k), k = 0..5.  Fitted by tools/fit_track_features.py to the MSSD_NOTES.md mean 3.875 / sd 0.4852 / median 4.")
    w("pub const TIME_SIGNATURE_P: [f64; 6] = [" + ", ".join(f64(round(v, 6)) for v in ts_p) + "];")
    w("")
    w("/// P(mode = \"major\").  From the MSSD_NOTES.md marginal (mean of mode, 1 = major).")
    w(f"pub const MODE_MAJOR_P: f64 = {f64(MODE_MAJOR_P)};")
    w("")
    mat("ACOUSTIC_LOADINGS", W,
        "/// acoustic_vector_k = sum_j ACOUSTIC_LOADINGS[k][j] * z_j + ACOUSTIC_NOISE_SD * N(0,1).\n"
        "/// No marginals are published for these embeddings; tools/fit_track_features.py draws 8 random directions\n"
        "/// over the audio-feature normal scores (not duration/release_year/popularity), R-orthonormal so\n"
        "/// the 8 dimensions are mutually uncorrelated, scaled to sd 0.35 with 60% of the variance explained\n"
        "/// by the audio features: centred floats (|x| < 1 in ~99.6% of draws) that carry audio information.",
        dims="18]; 8")
    w(f"pub const ACOUSTIC_NOISE_SD: f64 = {f64(round(av_noise, 6))};")
    # Normalise: rounding of the key/ts tables must still sum to 1 within 1e-6.
    with open(OUT_RS, "w") as fh:
        fh.write("\n".join(o) + "\n")


if __name__ == "__main__":
    sys.exit(main())
