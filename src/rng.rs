//! The project's random numbers: xoshiro256++ (Blackman & Vigna 2019) seeded through SplitMix64,
//! with the few distributions the pipeline needs. Written out here rather than taken from `rand`
//! so that a seed gives the same numbers on every platform and in every future build (`rand`'s
//! `StdRng` promises neither), which the "same seed, same bytes" guarantees rely on.
//!
//! Streams: [`Rng::derive`] turns a master seed and a path of labels into an independent seed, so
//! each file, session batch or episode gets its own stream and parallel work stays reproducible.

use crate::data::ids::splitmix64;

/// A seeded xoshiro256++ generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is filled from `seed` by SplitMix64, as the authors recommend.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            splitmix64(x.wrapping_sub(0x9E37_79B9_7F4A_7C15))
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The seed of an independent stream: `seed` followed by the labels in `path`.
    pub fn derive(seed: u64, path: &[u64]) -> u64 {
        path.iter().fold(splitmix64(seed), |h, &p| {
            splitmix64(h ^ splitmix64(p.wrapping_add(0x632B_E59B_D9B4_E019)))
        })
    }

    /// A generator for the stream `path` under `seed`.
    pub fn stream(seed: u64, path: &[u64]) -> Rng {
        Rng::new(Rng::derive(seed, path))
    }

    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1): safe under a logarithm.
    pub fn open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in 0..n (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// A standard normal draw (Box–Muller; one of the pair is used, so draws stay independent
    /// of call order).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.open01(), self.f64());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Fills `out` with independent standard normal draws, two per accepted point (Marsaglia's
    /// polar method: no trigonometry, one logarithm per pair), for bulk noise where
    /// [`normal`](Self::normal)'s cosine and logarithm per draw showed in TD3's profile.
    pub fn fill_normal(&mut self, out: &mut [f64]) {
        let mut i = 0;
        while i < out.len() {
            let (u, v) = (2.0 * self.f64() - 1.0, 2.0 * self.f64() - 1.0);
            let q = u * u + v * v;
            if q >= 1.0 || q == 0.0 {
                continue;
            }
            let f = (-2.0 * q.ln() / q).sqrt();
            out[i] = u * f;
            if i + 1 < out.len() {
                out[i + 1] = v * f;
            }
            i += 2;
        }
    }

    /// An index drawn from the cumulative weights `cdf` (non-decreasing, last > 0).
    pub fn pick_cdf(&mut self, cdf: &[f64]) -> usize {
        let total = cdf.last().copied().unwrap_or(0.0);
        let x = self.f64() * total;
        cdf.partition_point(|&c| c <= x)
            .min(cdf.len().saturating_sub(1))
    }

    /// An index drawn with probabilities proportional to `w`.
    pub fn pick(&mut self, w: &[f64]) -> usize {
        let total: f64 = w.iter().sum();
        let mut x = self.f64() * total;
        for (i, &p) in w.iter().enumerate() {
            if x < p {
                return i;
            }
            x -= p;
        }
        w.len().saturating_sub(1)
    }

    /// Number of failures before the first success, success probability `p` in (0, 1].
    pub fn geometric(&mut self, p: f64) -> u64 {
        if p >= 1.0 {
            return 0;
        }
        (self.open01().ln() / (1.0 - p).ln()).floor() as u64
    }

    /// 128 random bits formatted as a version-4 UUID.
    pub fn uuid(&mut self) -> String {
        let v = ((self.next_u64() as u128) << 64 | self.next_u64() as u128) & !(0xF000u128 << 64)
            | (0x4000u128 << 64);
        let v = v & !(0xC000u128 << 48) | (0x8000u128 << 48);
        let h = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_reference_output() {
        // xoshiro256++ from the state [1, 2, 3, 4]: the first outputs of the reference C code
        // (prng.di.unimi.it) are 41943041, 58720359, 3588806011781223.
        let mut r = Rng { s: [1, 2, 3, 4] };
        assert_eq!(r.next_u64(), 41_943_041);
        assert_eq!(r.next_u64(), 58_720_359);
        assert_eq!(r.next_u64(), 3_588_806_011_781_223);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        assert_eq!(
            Rng::stream(7, &[1, 2]).next_u64(),
            Rng::stream(7, &[1, 2]).next_u64()
        );
        assert_ne!(
            Rng::stream(7, &[1, 2]).next_u64(),
            Rng::stream(7, &[2, 1]).next_u64()
        );
        assert_ne!(
            Rng::stream(7, &[1]).next_u64(),
            Rng::stream(8, &[1]).next_u64()
        );
    }

    #[test]
    fn distributions_have_their_moments() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.015, "{var}");
        let g: f64 = (0..n).map(|_| r.geometric(0.6) as f64).sum::<f64>() / n as f64;
        // Mean failures before a success: (1 - p) / p = 0.667.
        assert!((g - 0.6667).abs() < 0.01, "{g}");
        let counts = (0..n).fold([0u32; 3], |mut c, _| {
            c[r.pick(&[1.0, 2.0, 1.0])] += 1;
            c
        });
        assert!((counts[1] as f64 / n as f64 - 0.5).abs() < 0.01);
        let id = r.uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn bulk_normals_are_standard_normal_and_independent_in_pairs() {
        let mut r = Rng::new(2);
        // An odd length: the last pair's second draw is dropped.
        let mut xs = vec![0.0f64; 200_001];
        r.fill_normal(&mut xs);
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let kurt = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n / (var * var);
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.015, "{var}");
        assert!((kurt - 3.0).abs() < 0.06, "{kurt}");
        // The two draws of a pair are uncorrelated.
        let pairs = xs.len() / 2;
        let corr = (0..pairs).map(|i| xs[2 * i] * xs[2 * i + 1]).sum::<f64>() / pairs as f64;
        assert!(corr.abs() < 0.01, "{corr}");
        assert!(xs.iter().all(|x| x.is_finite()));
    }
}
