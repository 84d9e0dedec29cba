//! The statistics every report uses: a mean with its 95% interval (normal or Student t), and
//! the interval of a crossed design of training runs × evaluation seeds.

/// Mean and 95% half-width of `x` (normal approximation); NaN half-width with one value.
pub fn mean_ci(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if n == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let m = x.iter().sum::<f64>() / n;
    if n < 2.0 {
        return (m, f64::NAN);
    }
    let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, 1.96 * (var / n).sqrt())
}

/// Student t quantile t(0.975, df), df ≥ 1 (normal beyond 30).
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if df == 0 {
        f64::NAN
    } else {
        T.get(df - 1).copied().unwrap_or(1.96)
    }
}

/// Mean and Student-t 95% half-width of `x`; with one value, `fallback` as the half-width.
pub fn mean_ci_t(x: &[f64], fallback: f64) -> (f64, f64) {
    let n = x.len();
    let m = x.iter().sum::<f64>() / n.max(1) as f64;
    if n < 2 {
        return (m, fallback);
    }
    let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    (m, t975(n - 1) * (var / n as f64).sqrt())
}

/// Mean and 95% half-width of a crossed design: `x` holds one value per (evaluation seed, run)
/// cell, seed by seed, `runs` values each. The cells of one seed share its starting histories
/// and those of one run share its weights, so they are not independent. The variance of the
/// grand mean is estimated from the two-way mean squares as (MS_run + MS_seed) / (runs ·
/// seeds), which exceeds the unbiased estimate by MS_err / (runs · seeds), with Satterthwaite's
/// degrees of freedom (rounded down). With one run or one seed it is the Student t over the
/// other factor.
pub fn crossed_ci(x: &[f64], runs: usize, fallback: f64) -> (f64, f64) {
    let r = runs.max(1);
    let s = x.len() / r;
    if r == 1 || s == 1 || s * r != x.len() {
        return mean_ci_t(x, fallback);
    }
    let m = x.iter().sum::<f64>() / x.len() as f64;
    let run_means = (0..r).map(|j| (0..s).map(|i| x[i * r + j]).sum::<f64>() / s as f64);
    let seed_means = x.chunks(r).map(|c| c.iter().sum::<f64>() / r as f64);
    let ms_run = s as f64 * run_means.map(|v| (v - m).powi(2)).sum::<f64>() / (r - 1) as f64;
    let ms_seed = r as f64 * seed_means.map(|v| (v - m).powi(2)).sum::<f64>() / (s - 1) as f64;
    let denom = ms_run.powi(2) / (r - 1) as f64 + ms_seed.powi(2) / (s - 1) as f64;
    if denom == 0.0 {
        return (m, 0.0);
    }
    let df = ((ms_run + ms_seed).powi(2) / denom).floor().max(1.0) as usize;
    (m, t975(df) * ((ms_run + ms_seed) / (r * s) as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossed_intervals_count_shared_seeds_and_runs() {
        // Seeds (1, 2) and (3, 4), two runs each: MS_run = 1, MS_seed = 4, df = 25 / 17 → 1.
        let (m, c) = crossed_ci(&[1.0, 2.0, 3.0, 4.0], 2, f64::NAN);
        assert_eq!(m, 2.5);
        assert!((c - 12.706 * 1.25f64.sqrt()).abs() < 1e-9, "{c}");
        // All the spread is between seeds: the four cells are two observations, not four.
        let (_, c) = crossed_ci(&[0.0, 0.0, 10.0, 10.0], 2, f64::NAN);
        assert!((c - 12.706 * 5.0).abs() < 1e-9, "{c}");
        let (_, naive) = mean_ci_t(&[0.0, 0.0, 10.0, 10.0], f64::NAN);
        assert!(naive < c / 6.0, "{naive} vs {c}");
        // One run, or one seed: the Student t over the other factor.
        assert_eq!(
            crossed_ci(&[1.0, 2.0, 4.0], 1, 0.0),
            mean_ci_t(&[1.0, 2.0, 4.0], 0.0)
        );
        assert_eq!(
            crossed_ci(&[1.0, 2.0, 4.0], 3, 0.0),
            mean_ci_t(&[1.0, 2.0, 4.0], 0.0)
        );
        assert_eq!(crossed_ci(&[7.0], 1, 0.5), (7.0, 0.5));
    }
}
