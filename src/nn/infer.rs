//! Forward passes for inference on plain vectors: dense layers, the LSTM, and vectorised
//! sigmoid and tanh.
//!
//! Training runs on burn tensors ([`super`]) or, for the history autoencoder and the agents on
//! the CPU, on plain vectors ([`super::backprop`]). A trained network that only answers (the encoder
//! behind every environment step) ran those same tensor ops, and on the small batches of a step
//! their per-op allocation and scalar `expf` took most of its time. Here the weights are copied
//! once into padded row-major buffers. Each output is a multiply-add chain over the inputs in
//! order, fused where the processor has FMA, so a row's result does not depend on the batch it
//! came in.

use burn::tensor::Tensor;

use super::{Linear, Lstm, to_vec};
use crate::simd::{LANES, Level, level, madd, vectorize};

/// Output columns per pass: four registers of accumulators per row.
const COLS: usize = 4 * LANES;
/// Rows per pass: the weights loaded once serve four rows.
const ROWS: usize = 4;

/// A dense layer `x W + b` for inference.
#[derive(Clone, Debug)]
pub struct Dense {
    /// `[d_in, width]`, the columns past `d_out` zero.
    w: Vec<f32>,
    /// `[d_out]`; None for a product without bias.
    b: Option<Vec<f32>>,
    pub d_in: usize,
    pub d_out: usize,
    /// `d_out` rounded up to whole passes.
    width: usize,
}

impl Dense {
    /// The layer `x W (+ b)` from `w` (`[d_in, d_out]`, row-major) and `b` (`[d_out]`).
    pub fn new(w: &[f32], b: Option<Vec<f32>>, d_in: usize, d_out: usize) -> Dense {
        assert_eq!(w.len(), d_in * d_out, "weights [d_in, d_out]");
        let width = d_out.max(1).div_ceil(COLS) * COLS;
        let mut padded = vec![0.0f32; d_in * width];
        for (row, src) in padded
            .chunks_exact_mut(width)
            .zip(w.chunks_exact(d_out.max(1)))
        {
            row[..d_out].copy_from_slice(src);
        }
        Dense {
            w: padded,
            b,
            d_in,
            d_out,
            width,
        }
    }

    /// The trained layer `linear` of parameters `p`.
    pub fn of(p: &[Tensor<2>], linear: &Linear) -> Dense {
        let [d_in, d_out] = p[linear.w.0].dims();
        Dense::new(
            &to_vec(&p[linear.w.0]),
            Some(to_vec(&p[linear.b.0])),
            d_in,
            d_out,
        )
    }

    /// `x` `[n, d_in]` → `[n, d_out]`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let n = x.len() / self.d_in.max(1);
        let mut out = vec![0.0f32; n * self.d_out];
        if self.d_in == 0 {
            self.add_bias(&mut out);
            return out;
        }
        // Fused multiply-adds wherever the level has them (every level but the portable one).
        match level() {
            Level::Portable => self.rows::<false>(x, &mut out),
            #[cfg(target_arch = "x86_64")]
            _ => vectorize(
                #[inline(always)]
                || self.rows::<true>(x, &mut out),
            ),
        }
        self.add_bias(&mut out);
        out
    }

    fn add_bias(&self, out: &mut [f32]) {
        if let Some(b) = &self.b {
            for row in out.chunks_exact_mut(self.d_out.max(1)) {
                for (y, &bi) in row.iter_mut().zip(b) {
                    *y += bi;
                }
            }
        }
    }

    /// Every row of `x` times the weights, into `out`.
    #[inline(always)]
    fn rows<const FMA: bool>(&self, x: &[f32], out: &mut [f32]) {
        let k = self.d_in;
        let mut r0 = 0;
        let n = x.len() / k;
        while r0 + ROWS <= n {
            self.pass::<FMA, ROWS>(&x[r0 * k..(r0 + ROWS) * k], &mut out[r0 * self.d_out..]);
            r0 += ROWS;
        }
        for r in r0..n {
            self.pass::<FMA, 1>(&x[r * k..(r + 1) * k], &mut out[r * self.d_out..]);
        }
    }

    /// `R` rows (`x` `[R, d_in]`) times the weights: out's first `R` rows.
    #[inline(always)]
    fn pass<const FMA: bool, const R: usize>(&self, x: &[f32], out: &mut [f32]) {
        let (k, width) = (self.d_in, self.width);
        for c0 in (0..width).step_by(COLS) {
            let mut acc = [[0.0f32; COLS]; R];
            for i in 0..k {
                let w: &[f32; COLS] = self.w[i * width + c0..i * width + c0 + COLS]
                    .try_into()
                    .expect("whole passes of columns");
                for (r, a) in acc.iter_mut().enumerate() {
                    let s = x[r * k + i];
                    for l in 0..COLS {
                        a[l] = madd::<FMA>(a[l], s, w[l]);
                    }
                }
            }
            let cols = COLS.min(self.d_out.saturating_sub(c0));
            for (r, a) in acc.iter().enumerate() {
                let at = r * self.d_out + c0;
                out[at..at + cols].copy_from_slice(&a[..cols]);
            }
        }
    }
}

/// e^x within 2 ulp for x in [−87.33, 88.37], where 2^n stays a normal float (Cephes' `expf`:
/// x is n ln 2 plus r, a degree-6 polynomial in r, 2^n from the exponent bits); outside, the
/// value at the nearer end. Plain multiplies and adds, so every processor gets the same value.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.33, 88.37);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // n as an integer by the float-add trick (exact for |n| < 2^22): `n as i32` saturates and
    // maps NaN to 0, which the compiler does one lane at a time.
    const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
    let k = (n + MAGIC).to_bits().wrapping_sub(MAGIC.to_bits());
    y * f32::from_bits(k.wrapping_add(127) << 23)
}

#[inline(always)]
fn sigmoid_of(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `f` of every element in place, compiled for the processor's vector level (the element
/// functions here are inlined, so the loop vectorises).
#[inline(always)]
fn map(xs: &mut [f32], f: impl Fn(f32) -> f32) {
    vectorize(
        #[inline(always)]
        || {
            for x in xs {
                *x = f(*x);
            }
        },
    )
}

/// σ(x) in place.
pub fn sigmoid(xs: &mut [f32]) {
    map(xs, sigmoid_of)
}

/// tanh(x) = 2σ(2x) − 1 in place, the form the training pass uses ([`super::tanh`]).
pub fn tanh(xs: &mut [f32]) {
    map(xs, tanh_of)
}

#[inline(always)]
fn tanh_of(x: f32) -> f32 {
    2.0 * sigmoid_of(2.0 * x) - 1.0
}

/// max(x, 0) in place; NaN stays NaN, as in the training pass.
pub fn relu(xs: &mut [f32]) {
    map(xs, |x| if x < 0.0 { 0.0 } else { x })
}

/// A trained LSTM layer for inference (gates in [`Lstm`]'s order: input, forget, cell, output).
#[derive(Clone, Debug)]
pub struct LstmInfer {
    wx: Dense,
    wh: Dense,
    pub hidden: usize,
}

impl LstmInfer {
    pub fn of(p: &[Tensor<2>], lstm: &Lstm) -> LstmInfer {
        let [d_in, g] = p[lstm.wx.0].dims();
        let h = lstm.hidden;
        LstmInfer {
            wx: Dense::new(&to_vec(&p[lstm.wx.0]), Some(to_vec(&p[lstm.b.0])), d_in, g),
            wh: Dense::new(&to_vec(&p[lstm.wh.0]), None, h, g),
            hidden: h,
        }
    }

    /// The final hidden state of each sequence, `[batch, H]`. `x`: time-major
    /// `[steps * batch, d_in]`; sequence `j` has `lengths[j]` real steps, the first ones, and its
    /// state stops changing after them (the masked training pass's padding).
    pub fn last_state(&self, x: &[f32], lengths: &[usize]) -> Vec<f32> {
        let (batch, h) = (lengths.len(), self.hidden);
        let steps = lengths.iter().copied().max().unwrap_or(0);
        let xw = self.wx.forward(&x[..steps * batch * self.wx.d_in]); // [steps * batch, 4H]
        let mut hs = vec![0.0f32; batch * h];
        let mut cs = vec![0.0f32; batch * h];
        let mut th = vec![0.0f32; h];
        for t in 0..steps {
            // [batch, 4H]; the first step's state is zero, and so is its product.
            let mut g = if t == 0 {
                vec![0.0f32; batch * 4 * h]
            } else {
                self.wh.forward(&hs)
            };
            for (j, gj) in g.chunks_exact_mut(4 * h).enumerate() {
                if t >= lengths[j] {
                    continue;
                }
                for (a, &b) in gj.iter_mut().zip(&xw[(t * batch + j) * 4 * h..]) {
                    *a += b;
                }
                sigmoid(&mut gj[..2 * h]);
                tanh(&mut gj[2 * h..3 * h]);
                sigmoid(&mut gj[3 * h..]);
                let (c, hj) = (&mut cs[j * h..(j + 1) * h], &mut hs[j * h..(j + 1) * h]);
                for u in 0..h {
                    c[u] = gj[h + u] * c[u] + gj[u] * gj[2 * h + u];
                }
                th.copy_from_slice(c);
                tanh(&mut th);
                for u in 0..h {
                    hj[u] = gj[3 * h + u] * th[u];
                }
            }
        }
        hs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Params, assert_close as close};
    use crate::rng::Rng;

    #[test]
    fn exp_and_sigmoid_against_the_c_library() {
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.04).collect();
        for &x in &xs {
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= 3.0 * f32::EPSILON * want,
                "exp({x}) {got} against {want}"
            );
        }
        let mut s = xs.clone();
        sigmoid(&mut s);
        let want: Vec<f32> = xs.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect();
        close(&s, &want, 1e-6, "sigmoid");
        let mut t = xs.clone();
        tanh(&mut t);
        close(
            &t,
            &xs.iter().map(|x| x.tanh()).collect::<Vec<_>>(),
            1e-6,
            "tanh",
        );
        for x in [-87.33f32, 88.37] {
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= 3.0 * f32::EPSILON * want,
                "exp({x}) {got} against {want}"
            );
        }
        for x in [-1e30f32, -88.5, 88.5, 1e30] {
            assert!(
                exp(x).is_finite() && exp(x) > 0.0,
                "exp({x}) = {} saturates",
                exp(x)
            );
        }
        let mut edge = vec![-1e30, -100.0, 100.0, 1e30];
        sigmoid(&mut edge);
        assert!(edge[0] < 1e-37 && edge[1] < 1e-37, "{edge:?}");
        assert!(edge[2] == 1.0 && edge[3] == 1.0, "{edge:?}");
    }

    #[test]
    fn dense_and_lstm_agree_with_the_training_pass() {
        let dev = Default::default();
        let mut p = Params::new(&dev);
        let mut rng = Rng::new(3);
        // 70 outputs: a partial pass of columns; 7 rows: a group of four and three alone.
        let lin = Linear::new(&mut p, "l", 9, 70, &mut rng);
        let lstm = Lstm::new(&mut p, "r", 9, 20, &mut rng);
        let (batch, steps) = (7, 4);
        let x: Vec<f32> = (0..steps * batch * 9)
            .map(|_| rng.normal() as f32)
            .collect();
        let xt = Tensor::<2>::from_data(
            burn::tensor::TensorData::new(x.clone(), [steps * batch, 9]),
            &dev,
        );
        let want = to_vec(&lin.forward(&p.values, xt.clone()));
        close(
            &Dense::of(&p.values, &lin).forward(&x),
            &want,
            1e-5,
            "dense",
        );
        // Lengths 1..=4: the masked pass keeps each state after its last real step.
        let lengths: Vec<usize> = (0..batch).map(|j| 1 + j % steps).collect();
        let mask: Vec<Tensor<2>> = (0..steps)
            .map(|t| {
                let m: Vec<f32> = lengths
                    .iter()
                    .map(|&l| if t < l { 1.0 } else { 0.0 })
                    .collect();
                Tensor::<2>::from_data(burn::tensor::TensorData::new(m, [batch, 1]), &dev)
            })
            .collect();
        // Each row's result is its own: alone or in a batch, to the bit; an empty batch is empty.
        let dense = Dense::of(&p.values, &lin);
        let all = dense.forward(&x[..batch * 9]);
        for r in 0..batch {
            assert_eq!(
                dense.forward(&x[r * 9..(r + 1) * 9]),
                all[r * 70..(r + 1) * 70]
            );
        }
        assert!(dense.forward(&[]).is_empty());
        let (_, h) = lstm.forward(&p.values, xt, batch, Some(&mask));
        close(
            &LstmInfer::of(&p.values, &lstm).last_state(&x, &lengths),
            &to_vec(&h),
            1e-5,
            "last state",
        );
    }
}
