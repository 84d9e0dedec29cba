//! Track features of a synthetic world, with the marginals of the full MSSD track table
//! (MSSD_NOTES.md) and realistic correlations through a Gaussian copula: a correlated normal
//! vector `z ~ N(0, R)` becomes features `x_j = Q_j(Φ(z_j))`, with closed-form quantile
//! functions `Q_j` fitted to each feature's published mean, spread and quartiles
//! ([`params`]). The same `z` places the track in the user model's mood space.

use std::io::Write;

use crate::rng::Rng;

pub use super::params::{
    ACOUSTIC_LOADINGS, ACOUSTIC_NOISE_SD, CONTINUOUS, CORRELATION, CORRELATION_CHOLESKY, KEY_P,
    MODE_MAJOR_P, TIME_SIGNATURE_P,
};

/// Index of us_popularity_estimate in [`CONTINUOUS`].
pub const POPULARITY: usize = 2;
/// Indices in [`CONTINUOUS`] of the mood space: energy, valence, danceability, acousticness.
pub const MOOD_FEATURES: [usize; 4] = [8, 17, 6, 3];
/// Index of release_year (written as an integer).
const RELEASE_YEAR: usize = 1;

/// The official order of the feature columns after `track_id` (the acoustic vector follows).
pub const TF_ORDER: [&str; 21] = [
    "duration",
    "release_year",
    "us_popularity_estimate",
    "acousticness",
    "beat_strength",
    "bounciness",
    "danceability",
    "dyn_range_mean",
    "energy",
    "flatness",
    "instrumentalness",
    "key",
    "liveness",
    "loudness",
    "mechanism",
    "mode",
    "organism",
    "speechiness",
    "tempo",
    "time_signature",
    "valence",
];

/// Φ, the standard normal CDF (Abramowitz & Stegun 7.1.26 on erf; absolute error < 1.5e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Φ⁻¹ (Acklam's rational approximation; relative error < 1.2e-9), for `p` in (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The copula: draws `z = L·n` with `L` the Cholesky factor of [`CORRELATION`].
#[derive(Default)]
pub struct FeatureSpace;

impl FeatureSpace {
    pub fn new() -> FeatureSpace {
        FeatureSpace
    }

    /// A draw of `z ~ N(0, R)`.
    pub fn correlated(&self, rng: &mut Rng) -> [f64; 18] {
        let e: [f64; 18] = std::array::from_fn(|_| rng.normal());
        std::array::from_fn(|i| (0..=i).map(|k| CORRELATION_CHOLESKY[i][k] * e[k]).sum())
    }

    /// The 18 continuous features of a track at copula point `z`.
    pub fn values(&self, z: &[f64; 18]) -> [f64; 18] {
        std::array::from_fn(|j| {
            let x = CONTINUOUS[j].1.quantile(normal_cdf(z[j]), z[j]);
            if j == RELEASE_YEAR { x.round() } else { x }
        })
    }

    /// key (0-11), mode (major?) and time signature, independent of the copula.
    pub fn discrete(&self, rng: &mut Rng) -> (u8, bool, u8) {
        (
            rng.pick(&KEY_P) as u8,
            rng.bernoulli(MODE_MAJOR_P),
            rng.pick(&TIME_SIGNATURE_P) as u8,
        )
    }

    /// The 8-d acoustic vector: fixed directions over the audio features' copula scores plus
    /// noise ([`ACOUSTIC_LOADINGS`]), centred floats that carry audio information the way a
    /// content embedding does. No marginals of the real vectors are published.
    pub fn acoustic(&self, z: &[f64; 18], rng: &mut Rng) -> [f64; 8] {
        std::array::from_fn(|d| {
            let signal: f64 = ACOUSTIC_LOADINGS[d].iter().zip(z).map(|(w, x)| w * x).sum();
            signal + ACOUSTIC_NOISE_SD * rng.normal()
        })
    }
}

/// Appends a track's row in the official `tf_*.csv` layout.
pub fn write_tf_row(buf: &mut Vec<u8>, t: &Track) {
    let _ = write!(buf, "{}", t.id);
    let mut values = t.values.iter().enumerate();
    for name in TF_ORDER {
        let _ = match name {
            "key" => write!(buf, ",{}", t.key),
            "mode" => write!(buf, ",{}", if t.major { "major" } else { "minor" }),
            "time_signature" => write!(buf, ",{}", t.time_signature),
            _ => match values.next() {
                Some((RELEASE_YEAR, v)) => write!(buf, ",{}", *v as i64),
                Some((_, v)) => write!(buf, ",{}", Fmt6(*v)),
                None => Ok(()),
            },
        };
    }
    for a in t.acoustic {
        let _ = write!(buf, ",{}", Fmt6(a));
    }
    buf.push(b'\n');
}

/// A float with 6 significant digits, trailing zeros trimmed.
struct Fmt6(f64);

impl std::fmt::Display for Fmt6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if v == 0.0 || !v.is_finite() {
            return write!(f, "0");
        }
        let digits = (5 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.')
        } else {
            &s
        };
        f.write_str(s)
    }
}

/// A track of the catalogue with its official features.
#[derive(Clone, Debug)]
pub struct Track {
    pub id: String,
    /// The 18 continuous features in [`CONTINUOUS`] order.
    pub values: [f64; 18],
    pub key: u8,
    pub major: bool,
    pub time_signature: u8,
    pub acoustic: [f64; 8],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_functions_against_tables() {
        // Φ(1.96) = 0.975002, Φ(−1) = 0.158655; Φ⁻¹(0.975) = 1.959964.
        assert!((normal_cdf(1.96) - 0.975_002).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-6);
        assert!((normal_quantile(0.975) - 1.959_964).abs() < 1e-6);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        for p in [1e-6, 0.01, 0.3, 0.7, 0.99, 1.0 - 1e-6] {
            assert!((normal_cdf(normal_quantile(p)) - p).abs() < 2e-7, "{p}");
        }
    }

    #[test]
    fn the_copula_has_the_correlations() {
        let space = FeatureSpace::new();
        let mut rng = Rng::new(3);
        let n = 50_000;
        let draws: Vec<[f64; 18]> = (0..n).map(|_| space.correlated(&mut rng)).collect();
        for (i, j) in [(8usize, 12usize), (3, 8), (6, 17)] {
            let c = draws.iter().map(|z| z[i] * z[j]).sum::<f64>() / n as f64;
            assert!(
                (c - CORRELATION[i][j]).abs() < 0.02,
                "({i},{j}) {c} vs {}",
                CORRELATION[i][j]
            );
        }
    }

    #[test]
    fn features_follow_the_published_marginals() {
        // Target (mean, p25, p50, p75) from MSSD_NOTES.md; tolerance 5% of the p25..p75 spread
        // plus Monte Carlo noise over 60,000 tracks.
        let targets = [
            ("duration", 233.19, 176.75, 217.91, 267.17),
            ("acousticness", 0.3470, 0.0267, 0.2205, 0.6528),
            ("energy", 0.5918, 0.4098, 0.6261, 0.8073),
            ("loudness", -9.605, -11.71, -8.084, -5.791),
            ("tempo", 120.07, 96.03, 119.95, 139.86),
            ("valence", 0.4815, 0.2520, 0.4736, 0.7050),
        ];
        let space = FeatureSpace::new();
        let mut rng = Rng::new(5);
        let n = 60_000;
        let rows: Vec<[f64; 18]> = (0..n)
            .map(|_| space.values(&space.correlated(&mut rng)))
            .collect();
        for (name, mean, p25, p50, p75) in targets {
            let j = CONTINUOUS.iter().position(|(c, _)| *c == name).unwrap();
            let mut xs: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            xs.sort_by(f64::total_cmp);
            let q = |p: f64| xs[(p * (n - 1) as f64) as usize];
            let tol = 0.05 * (p75 - p25);
            let m = xs.iter().sum::<f64>() / n as f64;
            for (what, got, want) in [
                ("mean", m, mean),
                ("p25", q(0.25), p25),
                ("p50", q(0.5), p50),
                ("p75", q(0.75), p75),
            ] {
                assert!((got - want).abs() < tol, "{name} {what}: {got} vs {want}");
            }
        }
        // Energy and loudness move together; acousticness against energy.
        let corr = |a: usize, b: usize| {
            let (ma, mb) = (
                rows.iter().map(|r| r[a]).sum::<f64>() / n as f64,
                rows.iter().map(|r| r[b]).sum::<f64>() / n as f64,
            );
            let cov = rows.iter().map(|r| (r[a] - ma) * (r[b] - mb)).sum::<f64>();
            let va = rows.iter().map(|r| (r[a] - ma).powi(2)).sum::<f64>();
            let vb = rows.iter().map(|r| (r[b] - mb).powi(2)).sum::<f64>();
            cov / (va * vb).sqrt()
        };
        assert!(corr(8, 12) > 0.6, "energy-loudness {}", corr(8, 12));
        assert!(corr(3, 8) < -0.5, "acousticness-energy {}", corr(3, 8));
    }

    #[test]
    fn six_significant_digits() {
        assert_eq!(Fmt6(0.123_456_789).to_string(), "0.123457");
        assert_eq!(Fmt6(233.19).to_string(), "233.19");
        assert_eq!(Fmt6(-9.605).to_string(), "-9.605");
        assert_eq!(Fmt6(2.5e-7).to_string(), "0.00000025");
        assert_eq!(Fmt6(0.0).to_string(), "0");
    }
}
