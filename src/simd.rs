//! Which vector instructions the processor has, detected once: the hand-written kernels (exact
//! nearest-track search, the networks' inference passes) are compiled for each level and pick
//! theirs at run time, so one binary runs everywhere and uses AVX-512 where it exists.

use std::sync::OnceLock;

/// An instruction set a kernel is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// AVX-512F with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AVX2 with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Whatever the compiler's baseline target allows, without fused multiply-adds.
    Portable,
}

/// The best level this processor runs.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| *levels().last().expect("the portable level at least"))
}

/// Every level this processor runs, the best last (tests compare kernels across them).
pub fn levels() -> Vec<Level> {
    #[allow(unused_mut)]
    let mut all = vec![Level::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            all.push(Level::Avx2);
        }
        if has!("avx512f") && has!("fma") {
            all.push(Level::Avx512);
        }
    }
    all
}

/// Floats in one AVX-512 register (two AVX2 ones): the width the kernels tile their data by.
pub const LANES: usize = 16;

/// `a + s·x`: one fused multiply-add where the caller's level has FMA (`FMA`), else a multiply
/// then an add (`mul_add` without FMA would be a slow library call).
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, s: f32, x: f32) -> f32 {
    if FMA { s.mul_add(x, a) } else { a + s * x }
}

/// Runs `f` compiled for the processor's level: its loops (and what it calls inline) are
/// vectorised with that level's instructions. Mark a long closure `#[inline(always)]`, or the
/// compiler may leave it a function of its own, compiled for the baseline. The arithmetic is
/// the same at every level (Rust never fuses a multiply and an add by itself), so the results
/// are too.
#[inline(always)]
pub fn vectorize<R>(f: impl FnOnce() -> R) -> R {
    match level() {
        // SAFETY: `level` reports these only where the processor has the features.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { avx512(f) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { avx2(f) },
        Level::Portable => f(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
