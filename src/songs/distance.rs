//! Squared Euclidean distance between song vectors, the inner loop of the HNSW search (the
//! exact backend computes its distances from dot products, `super::exact`). An AVX2+FMA kernel
//! is chosen at run time where the processor has it (the default x86-64 target only promises
//! SSE2); otherwise an 8-lane loop the compiler vectorises.

use crate::simd::{Level, level};

/// A distance kernel: squared L2 between two slices of equal length.
pub type Kernel = fn(&[f32], &[f32]) -> f32;

/// The fastest kernel this processor supports.
pub fn kernel() -> Kernel {
    match level() {
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 | Level::Avx2 => l2_avx2,
        Level::Portable => l2_portable,
    }
}

/// Squared L2 with eight independent accumulators (vectorised by the compiler).
pub fn l2_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let chunks = n / 8;
    for c in 0..chunks {
        for l in 0..8 {
            let d = a[c * 8 + l] - b[c * 8 + l];
            acc[l] += d * d;
        }
    }
    let mut tail = 0.0;
    for i in chunks * 8..n {
        let d = a[i] - b[i];
        tail += d * d;
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
fn l2_avx2(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: chosen by `kernel()` only where `simd::level` found AVX2 (or AVX-512) and FMA.
    unsafe { l2_avx2_inner(a, b) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn l2_avx2_inner(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads 8 (or 16) floats at offsets below `n`.
    unsafe {
        let mut s0 = _mm256_setzero_ps();
        let mut s1 = _mm256_setzero_ps();
        while i + 16 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            let d1 = _mm256_sub_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
            );
            s0 = _mm256_fmadd_ps(d0, d0, s0);
            s1 = _mm256_fmadd_ps(d1, d1, s1);
            i += 16;
        }
        if i + 8 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            s0 = _mm256_fmadd_ps(d0, d0, s0);
            i += 8;
        }
        let s = _mm256_add_ps(s0, s1);
        let hi = _mm256_extractf128_ps(s, 1);
        let lo = _mm256_castps256_ps128(s);
        let q = _mm_add_ps(lo, hi);
        let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
        let mut total = _mm_cvtss_f32(q);
        while i < n {
            let d = *pa.add(i) - *pb.add(i);
            total += d * d;
            i += 1;
        }
        total
    }
}

/// Hints the processor to fetch `v` into cache before it is read.
#[inline(always)]
pub fn prefetch(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch(v.as_ptr() as *const i8, _MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree_with_the_definition() {
        for n in [1usize, 7, 8, 15, 16, 17, 48, 100] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            assert!(
                (l2_portable(&a, &b) - want).abs() < 1e-4 * want.max(1.0),
                "{n}"
            );
            assert!(
                (kernel()(&a, &b) - want).abs() < 1e-4 * want.max(1.0),
                "{n}"
            );
        }
        // (1, 2) to (4, 6): 9 + 16 = 25.
        assert_eq!(kernel()(&[1.0, 2.0], &[4.0, 6.0]), 25.0);
    }
}
