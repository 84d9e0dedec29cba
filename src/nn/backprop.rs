//! Training passes on plain vectors: matrix products, dense layers and the LSTM forward with
//! what their backward pass needs kept, their gradients by hand, and Adam over plain vectors.
//!
//! burn's autodiff ran the history autoencoder's small per-step tensors one op at a time, each
//! allocating its output, with the CPU backend's scalar `expf` inside every sigmoid: most of an
//! update was that, not arithmetic. Here a layer's forward and backward are each a few matrix
//! products (gemm, on the calling thread) and one fused element-wise loop. A model's batch is
//! split into parts of a fixed size ([`in_parts`], [`map_parts`]: `encoder::grad`,
//! `agent::grad`), run on the pool's threads and summed in order, which on these small
//! products pays better than splitting each product.
//! The gradients are checked against burn's autodiff here and in the tests of the models that
//! use them.
//!
//! Matrices are row-major slices; sequences are time-major as in [`super`] (row `t * batch + b`).

use super::infer::{sigmoid, tanh};
use super::{Adam, Linear, Params, to_vec};
use crate::simd::vectorize;
use Form::{AsIs, Transposed};
use rayon::prelude::*;

/// How a [`matmul`] operand is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// As the product reads it: `a` `[m, k]`, `b` `[k, n]`.
    AsIs,
    /// Transposed: `a` stored `[k, m]`, `b` stored `[n, k]`.
    Transposed,
}

/// What [`matmul`] does with the output's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    Set,
    Add,
}

/// `c = a · b` (or `c += a · b` with [`Out::Add`]), `(m, k, n)` the product's shape; each
/// operand stored as it is read or transposed ([`Form`]).
pub fn matmul(
    c: &mut [f32],
    (a, fa): (&[f32], Form),
    (b, fb): (&[f32], Form),
    (m, k, n): (usize, usize, usize),
    out: Out,
) {
    let (ta, tb, accumulate) = (fa == Transposed, fb == Transposed, out == Out::Add);
    assert!(
        c.len() >= m * n && a.len() >= m * k && b.len() >= k * n,
        "matmul shapes"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    let (a_cs, a_rs) = if ta { (m as isize, 1) } else { (1, k as isize) };
    let (b_cs, b_rs) = if tb { (k as isize, 1) } else { (1, n as isize) };
    // SAFETY: the asserts above keep every index the strides reach inside the slices; `c` is
    // borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `x += y`, element by element.
pub fn add(x: &mut [f32], y: &[f32]) {
    vectorize(
        #[inline(always)]
        || {
            for (a, &b) in x.iter_mut().zip(y) {
                *a += b;
            }
        },
    )
}

/// Adds the column sums of `x` `[rows, cols]` to `out` `[cols]` (a bias's gradient).
pub fn add_column_sums(out: &mut [f32], x: &[f32]) {
    for row in x.chunks_exact(out.len().max(1)) {
        add(out, row);
    }
}

/// A network's parameters as plain vectors, in [`Params`] order.
#[derive(Clone, Debug)]
pub struct Plain {
    pub values: Vec<Vec<f32>>,
    pub shapes: Vec<[usize; 2]>,
    pub trainable: Vec<bool>,
}

impl Plain {
    pub fn of(p: &Params) -> Plain {
        Plain {
            values: p.values.iter().map(to_vec).collect(),
            shapes: p.values.iter().map(|v| v.dims()).collect(),
            trainable: p.trainable.clone(),
        }
    }

    /// Writes the values back into `p`'s tensors.
    pub fn store(&self, p: &mut Params) {
        let named: Vec<_> = p
            .names
            .iter()
            .zip(&self.values)
            .zip(&self.shapes)
            .map(|((n, v), s)| (n.clone(), *s, v.clone()))
            .collect();
        p.import(&named).expect("the same parameters");
    }

    /// Polyak averaging towards `online`: θ' ← τθ + (1 − τ)θ' for every parameter, in the
    /// same f32 arithmetic as [`crate::agent::nets::soft_update`] on tensors.
    pub fn soft_update(&mut self, online: &Plain, tau: f64) {
        let (keep, take) = ((1.0 - tau) as f32, tau as f32);
        for (t, o) in self.values.iter_mut().zip(&online.values) {
            vectorize(
                #[inline(always)]
                || {
                    for (t, &o) in t.iter_mut().zip(o) {
                        *t = *t * keep + o * take;
                    }
                },
            )
        }
    }

    /// Zero gradients of the same shapes.
    pub fn zero_grads(&self) -> Grads {
        Grads(self.values.iter().map(|v| vec![0.0; v.len()]).collect())
    }
}

/// Gradients of a [`Plain`] network's parameters; frozen parameters' stay zero.
#[derive(Clone, Debug)]
pub struct Grads(pub Vec<Vec<f32>>);

impl Grads {
    pub fn zero(&mut self) {
        for g in &mut self.0 {
            g.fill(0.0);
        }
    }

    /// Adds `other` element by element.
    pub fn add(&mut self, other: &Grads) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            add(a, b);
        }
    }

    /// The gradients of parameters `a` and `b` (`a < b`) at once.
    pub fn pair(&mut self, a: usize, b: usize) -> (&mut [f32], &mut [f32]) {
        assert!(a < b, "parameters in order");
        let (lo, hi) = self.0.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    }
}

/// Rows per part of a batch. The parts depend on the batch size only, so a seed gives the
/// same weights whatever the thread count; the threads decide how many parts run at once. 128
/// rather than 64: the encoder's default batch of 256 in two parts trained faster on two
/// cores, and as fast on one (`segue bench encoder`, docs/results.md).
pub const PART: usize = 128;

/// The parts' results of a pass over `rows` items whose gradient is added to `g`: `f` of each
/// item range of at most [`PART`] items and the part's gradients, on the pool's threads. The
/// first part adds to `g` itself, the others to gradients of their own, added to `g` in order
/// after it. The results come back in the parts' order.
pub fn in_parts<T: Send>(
    net: &Plain,
    g: &mut Grads,
    rows: usize,
    f: impl Fn(std::ops::Range<usize>, &mut Grads) -> T + Sync,
) -> Vec<T> {
    let ranges = parts(rows, PART);
    let (head, tail) = ranges.split_first().expect("at least one part");
    let (first, rest) = rayon::join(
        || f(head.clone(), g),
        || {
            tail.par_iter()
                .map(|r| {
                    let mut gi = net.zero_grads();
                    (f(r.clone(), &mut gi), gi)
                })
                .collect::<Vec<_>>()
        },
    );
    let mut out = vec![first];
    for (x, gi) in rest {
        g.add(&gi);
        out.push(x);
    }
    out
}

/// The rows of a pass without gradients: `f` of each range of at most `part` of `rows` items,
/// on the pool's threads, their outputs concatenated in order. Parts of a fixed size keep the
/// output independent of the thread count.
pub fn map_parts(
    rows: usize,
    part: usize,
    f: impl Fn(std::ops::Range<usize>) -> Vec<f32> + Sync,
) -> Vec<f32> {
    let ranges = parts(rows, part);
    if ranges.len() == 1 {
        return f(0..rows);
    }
    let outs: Vec<Vec<f32>> = ranges.into_par_iter().map(&f).collect();
    outs.concat()
}

/// `rows` items in as few parts of at most `size` as can hold them, of balanced lengths (one
/// empty part when there are none): a split that depends on the sizes only.
fn parts(rows: usize, size: usize) -> Vec<std::ops::Range<usize>> {
    let n = rows.div_ceil(size.max(1)).max(1);
    (0..n).map(|i| i * rows / n..(i + 1) * rows / n).collect()
}

/// `x W + b` of layer `l` of `net`.
pub fn apply(net: &Plain, l: &Linear, x: &[f32]) -> Vec<f32> {
    dense(
        x,
        &net.values[l.w.0],
        &net.values[l.b.0],
        net.shapes[l.w.0][0],
    )
}

/// The backward pass of layer `l` at input `x`: adds its gradients to `g` (where it trains and
/// `g` is given), returns `dy Wᵀ` when `want_dx`.
pub fn back(
    (net, g): (&Plain, Option<&mut Grads>),
    l: &Linear,
    x: &[f32],
    dy: &[f32],
    want_dx: bool,
) -> Option<Vec<f32>> {
    let dims = (net.shapes[l.w.0][0], net.shapes[l.w.0][1]);
    let grads = g
        .filter(|_| net.trainable[l.w.0])
        .map(|g| g.pair(l.w.0, l.b.0));
    dense_backward(x, &net.values[l.w.0], dy, dims, grads, want_dx)
}

/// `y = x W + b` for `x` `[n, d_in]`, with `w` `[d_in, d_out]` and `b` `[d_out]`.
pub fn dense(x: &[f32], w: &[f32], b: &[f32], d_in: usize) -> Vec<f32> {
    let d_out = b.len();
    let n = x.len() / d_in.max(1);
    let mut y: Vec<f32> = Vec::with_capacity(n * d_out);
    for _ in 0..n {
        y.extend_from_slice(b);
    }
    matmul(&mut y, (x, AsIs), (w, AsIs), (n, d_in, d_out), Out::Add);
    y
}

/// The backward pass of [`dense`]: adds `xᵀ dy` to `dw` and the column sums of `dy` to `db`
/// (when given: None for a frozen layer), and returns `dy Wᵀ` when `want_dx`.
pub fn dense_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    (d_in, d_out): (usize, usize),
    grads: Option<(&mut [f32], &mut [f32])>,
    want_dx: bool,
) -> Option<Vec<f32>> {
    let n = dy.len() / d_out.max(1);
    if let Some((dw, db)) = grads {
        matmul(dw, (x, Transposed), (dy, AsIs), (d_in, n, d_out), Out::Add);
        add_column_sums(db, dy);
    }
    want_dx.then(|| {
        let mut dx = vec![0.0f32; n * d_in];
        matmul(
            &mut dx,
            (dy, AsIs),
            (w, Transposed),
            (n, d_out, d_in),
            Out::Set,
        );
        dx
    })
}

/// Zeroes the gradient where the ReLU's output `y` was zero.
pub fn relu_backward(dy: &mut [f32], y: &[f32]) {
    vectorize(
        #[inline(always)]
        || {
            for (d, &v) in dy.iter_mut().zip(y) {
                if v <= 0.0 {
                    *d = 0.0;
                }
            }
        },
    )
}

/// Multiplies the gradient by the sigmoid's derivative y (1 − y) at its output `y`.
pub fn sigmoid_backward(dy: &mut [f32], y: &[f32]) {
    vectorize(
        #[inline(always)]
        || {
            for (d, &v) in dy.iter_mut().zip(y) {
                *d *= v * (1.0 - v);
            }
        },
    )
}

/// Multiplies the gradient by tanh's derivative 1 − y² at its output `y`.
pub fn tanh_backward(dy: &mut [f32], y: &[f32]) {
    vectorize(
        #[inline(always)]
        || {
            for (d, &v) in dy.iter_mut().zip(y) {
                *d *= 1.0 - v * v;
            }
        },
    )
}

/// What an LSTM's forward pass keeps for its backward pass.
#[derive(Clone, Debug)]
pub struct LstmTape {
    pub steps: usize,
    pub batch: usize,
    pub hidden: usize,
    /// The gates after their activations, `[steps * batch, 4H]` (input, forget, cell, output).
    acts: Vec<f32>,
    /// tanh of the new cell state, `[steps * batch, H]`.
    tc: Vec<f32>,
    /// Cell states `c_0 .. c_steps`, `[(steps + 1) * batch, H]` (`c_0` zero).
    c: Vec<f32>,
    /// Hidden states `h_0 .. h_steps`, `[(steps + 1) * batch, H]` (`h_0` zero).
    pub h: Vec<f32>,
    /// Per row `[steps * batch]`: true on a real step (None: every step is real).
    mask: Option<Vec<bool>>,
}

impl LstmTape {
    /// The hidden state after the last step, `[batch, H]`.
    pub fn last(&self) -> &[f32] {
        &self.h[self.steps * self.batch * self.hidden..]
    }

    /// The hidden states of every step, `[steps * batch, H]`.
    pub fn outputs(&self) -> &[f32] {
        &self.h[self.batch * self.hidden..]
    }
}

/// The forward pass of [`super::Lstm`] from its projected inputs `xw` (`x Wx + b`):
/// `[steps * batch, 4H]`, or `[batch, 4H]` used at every step with `repeated`. `mask` (per row,
/// `[steps * batch]`): a padded step leaves the state unchanged.
pub fn lstm_forward(
    xw: &[f32],
    wh: &[f32],
    (steps, batch, hidden): (usize, usize, usize),
    repeated: bool,
    mask: Option<&[f32]>,
) -> LstmTape {
    let (h4, bh) = (4 * hidden, batch * hidden);
    let mut t = LstmTape {
        steps,
        batch,
        hidden,
        acts: vec![0.0; steps * batch * h4],
        tc: vec![0.0; steps * bh],
        c: vec![0.0; (steps + 1) * bh],
        h: vec![0.0; (steps + 1) * bh],
        mask: mask.map(|m| m.iter().map(|&v| v > 0.0).collect()),
    };
    for s in 0..steps {
        let g = &mut t.acts[s * batch * h4..(s + 1) * batch * h4];
        let src = if repeated {
            xw
        } else {
            &xw[s * batch * h4..(s + 1) * batch * h4]
        };
        g.copy_from_slice(&src[..batch * h4]);
        if s > 0 {
            // h_0 is zero: the first step has no recurrent term.
            let h_prev = &t.h[s * bh..(s + 1) * bh];
            matmul(g, (h_prev, AsIs), (wh, AsIs), (batch, hidden, h4), Out::Add);
        }
        for row in g.chunks_exact_mut(h4) {
            sigmoid(&mut row[..2 * hidden]);
            tanh(&mut row[2 * hidden..3 * hidden]);
            sigmoid(&mut row[3 * hidden..]);
        }
        let (c_done, c_rest) = t.c.split_at_mut((s + 1) * bh);
        let (h_done, h_rest) = t.h.split_at_mut((s + 1) * bh);
        let (c_prev, c_new) = (&c_done[s * bh..], &mut c_rest[..bh]);
        let (h_prev, h_new) = (&h_done[s * bh..], &mut h_rest[..bh]);
        let tc = &mut t.tc[s * bh..(s + 1) * bh];
        for j in 0..batch {
            let r = j * hidden..(j + 1) * hidden;
            if t.mask.as_ref().is_some_and(|m| !m[s * batch + j]) {
                c_new[r.clone()].copy_from_slice(&c_prev[r.clone()]);
                h_new[r.clone()].copy_from_slice(&h_prev[r]);
                continue;
            }
            let a = &g[j * h4..(j + 1) * h4];
            let (i, rest) = a.split_at(hidden);
            let (f, rest) = rest.split_at(hidden);
            let (u, o) = rest.split_at(hidden);
            let cp = &c_prev[r.clone()];
            let cn = &mut c_new[r.clone()];
            let tcr = &mut tc[r.clone()];
            vectorize(
                #[inline(always)]
                || {
                    for k in 0..hidden {
                        cn[k] = f[k] * cp[k] + i[k] * u[k];
                    }
                },
            );
            tcr.copy_from_slice(cn);
            tanh(tcr);
            let hn = &mut h_new[r];
            vectorize(
                #[inline(always)]
                || {
                    for k in 0..hidden {
                        hn[k] = o[k] * tcr[k];
                    }
                },
            );
        }
    }
    t
}

/// The backward pass of [`lstm_forward`]: from the loss's gradient with respect to every step's
/// hidden state (`dh_steps`, `[steps * batch, H]`) and/or the last one (`dh_last`, `[batch, H]`),
/// returns the gradient of every step's pre-activation gates, `[steps * batch, 4H]` (zero on
/// padded steps; also the gradient of `xw`), and adds the recurrent weights' gradient to `dwh`.
pub fn lstm_backward(
    t: &LstmTape,
    wh: &[f32],
    dh_steps: Option<&[f32]>,
    dh_last: Option<&[f32]>,
    dwh: Option<&mut [f32]>,
) -> Vec<f32> {
    let (steps, batch, hidden) = (t.steps, t.batch, t.hidden);
    let (h4, bh) = (4 * hidden, batch * hidden);
    let mut dg = vec![0.0f32; steps * batch * h4];
    let mut dh = match dh_last {
        Some(d) => d.to_vec(),
        None => vec![0.0; bh],
    };
    let mut dc = vec![0.0f32; bh];
    let mut dh_prev = vec![0.0f32; bh];
    for s in (0..steps).rev() {
        if let Some(d) = dh_steps {
            add(&mut dh, &d[s * bh..(s + 1) * bh]);
        }
        let g = &mut dg[s * batch * h4..(s + 1) * batch * h4];
        let acts = &t.acts[s * batch * h4..(s + 1) * batch * h4];
        let c_prev = &t.c[s * bh..(s + 1) * bh];
        let tc = &t.tc[s * bh..(s + 1) * bh];
        let (dh, dc) = (&mut dh, &mut dc);
        vectorize(
            #[inline(always)]
            || {
                for j in 0..batch {
                    if t.mask.as_ref().is_some_and(|m| !m[s * batch + j]) {
                        // The state passed through unchanged: its gradient passes back whole.
                        continue;
                    }
                    let r = j * hidden..(j + 1) * hidden;
                    let a = &acts[j * h4..(j + 1) * h4];
                    let gj = &mut g[j * h4..(j + 1) * h4];
                    let (dhj, dcj) = (&mut dh[r.clone()], &mut dc[r.clone()]);
                    let (cp, tcj) = (&c_prev[r.clone()], &tc[r]);
                    for k in 0..hidden {
                        let (i, f, u, o) =
                            (a[k], a[hidden + k], a[2 * hidden + k], a[3 * hidden + k]);
                        let d_o = dhj[k] * tcj[k];
                        let d_c = dcj[k] + dhj[k] * o * (1.0 - tcj[k] * tcj[k]);
                        gj[k] = d_c * u * i * (1.0 - i);
                        gj[hidden + k] = d_c * cp[k] * f * (1.0 - f);
                        gj[2 * hidden + k] = d_c * i * (1.0 - u * u);
                        gj[3 * hidden + k] = d_o * o * (1.0 - o);
                        dcj[k] = d_c * f;
                        dhj[k] = 0.0;
                    }
                }
            },
        );
        if s > 0 {
            // dh_{s-1} = dg_s Whᵀ, plus what passed through padded rows (zero elsewhere).
            matmul(
                &mut dh_prev,
                (g, AsIs),
                (wh, Transposed),
                (batch, h4, hidden),
                Out::Set,
            );
            add(dh, &dh_prev);
        }
    }
    if let Some(dwh) = dwh {
        // Σ_s h_{s-1}ᵀ dg_s in one product: h_0 .. h_{steps-1} are the first rows of the tape.
        let h_prev = &t.h[..steps * bh];
        matmul(
            dwh,
            (h_prev, Transposed),
            (&dg, AsIs),
            (hidden, steps * batch, h4),
            Out::Add,
        );
    }
    dg
}

/// The sum over steps of `[steps * batch, cols]`, `[batch, cols]` (the gradient of an input
/// repeated at every step).
pub fn sum_steps(x: &[f32], steps: usize) -> Vec<f32> {
    let n = x.len() / steps.max(1);
    let mut out = x[..n].to_vec();
    for s in 1..steps {
        add(&mut out, &x[s * n..(s + 1) * n]);
    }
    out
}

/// Adam's moments as plain vectors, in [`Params`] order.
#[derive(Clone, Debug)]
pub struct Moments {
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl Adam {
    /// The moments as plain vectors, for [`step_plain`](Self::step_plain).
    pub fn moments(&self) -> Moments {
        Moments {
            m: self.m.iter().map(to_vec).collect(),
            v: self.v.iter().map(to_vec).collect(),
        }
    }

    /// Writes plain moments back into the optimiser's tensors.
    pub fn set_moments(&mut self, mo: &Moments, p: &Params) {
        let tensor = |v: &Vec<f32>, i: usize| {
            burn::tensor::Tensor::from_data(
                burn::tensor::TensorData::new(v.clone(), p.values[i].dims()),
                &p.device,
            )
        };
        self.m = mo.m.iter().enumerate().map(|(i, v)| tensor(v, i)).collect();
        self.v = mo.v.iter().enumerate().map(|(i, v)| tensor(v, i)).collect();
    }

    /// One update of the trainable values of `net` from their gradients: the same rule as
    /// [`apply`](Self::apply), element by element, for parameters that get a gradient (`apply`
    /// skips a trainable parameter off the loss's path; here its zero gradient decays the
    /// moments and moves it on).
    pub fn step_plain(&mut self, net: &mut Plain, grads: &Grads, mo: &mut Moments) {
        let mut scale = 1.0f32;
        if self.clip_norm > 0.0 {
            let sq: f64 = (0..net.values.len())
                .filter(|&i| net.trainable[i])
                .flat_map(|i| grads.0[i].iter())
                .map(|&g| (g as f64) * (g as f64))
                .sum();
            let norm = sq.sqrt();
            if norm > self.clip_norm {
                scale = (self.clip_norm / norm) as f32;
            }
        }
        self.step += 1;
        let t = self.step as i32;
        let c2 = (1.0 - self.beta2.powi(t)) as f32;
        let step_size = (self.lr / (1.0 - self.beta1.powi(t))) as f32;
        let (b1, b2) = (self.beta1 as f32, self.beta2 as f32);
        let (a1, a2) = ((1.0 - self.beta1) as f32, (1.0 - self.beta2) as f32);
        let eps = self.eps as f32;
        // Element by element, so the threads can share the work in any split: chunks of every
        // trainable parameter, updated in parallel.
        let mut chunks = Vec::new();
        let params = net
            .values
            .iter_mut()
            .zip(&mut mo.m)
            .zip(&mut mo.v)
            .zip(&grads.0);
        for ((((w, m), v), g), _) in params.zip(&net.trainable).filter(|(_, t)| **t) {
            let parts = w
                .chunks_mut(ADAM_CHUNK)
                .zip(m.chunks_mut(ADAM_CHUNK))
                .zip(v.chunks_mut(ADAM_CHUNK))
                .zip(g.chunks(ADAM_CHUNK));
            chunks.extend(parts.map(|(((w, m), v), g)| (w, m, v, g)));
        }
        chunks.into_par_iter().for_each(|(w, m, v, g)| {
            vectorize(
                #[inline(always)]
                || {
                    // Iterators, not indices: no bounds checks, so the loop runs in SIMD lanes.
                    // g · 1 is g, so the unclipped step multiplies too.
                    let params = w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g);
                    for (((w, m), v), &g) in params {
                        let g = g * scale;
                        *m = *m * b1 + g * a1;
                        *v = *v * b2 + g * g * a2;
                        let denom = (*v / c2).sqrt() + eps;
                        *w -= *m / denom * step_size;
                    }
                },
            )
        });
    }
}

/// Elements per parallel piece of an Adam step.
const ADAM_CHUNK: usize = 1 << 14;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Lstm, P, assert_close as close};
    use crate::rng::Rng;
    use burn::tensor::{Device, Tensor, TensorData};

    #[test]
    fn matmul_with_every_transpose_matches_the_definition() {
        let mut rng = Rng::new(1);
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|_| rng.f64() as f32 - 0.5).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rng.f64() as f32 - 0.5).collect();
        let at = |i: usize, p: usize| a[i * k + p];
        let bt = |p: usize, j: usize| b[p * n + j];
        let want: Vec<f32> = (0..m * n)
            .map(|e| (0..k).map(|p| at(e / n, p) * bt(p, e % n)).sum())
            .collect();
        let transpose = |x: &[f32], r: usize, c: usize| -> Vec<f32> {
            (0..r * c).map(|e| x[(e % r) * c + e / r]).collect()
        };
        let (a_t, b_t) = (transpose(&a, m, k), transpose(&b, k, n));
        let forms = [AsIs, Transposed];
        for (fa, fb) in forms.iter().flat_map(|&x| forms.map(|y| (x, y))) {
            let mut c = vec![1.0f32; m * n];
            let x = if fa == Transposed { &a_t } else { &a };
            let y = if fb == Transposed { &b_t } else { &b };
            matmul(&mut c, (x, fa), (y, fb), (m, k, n), Out::Set);
            close(&c, &want, 1e-6, "product");
            matmul(&mut c, (x, fa), (y, fb), (m, k, n), Out::Add);
            let twice: Vec<f32> = want.iter().map(|v| 2.0 * v).collect();
            close(&c, &twice, 1e-6, "accumulated");
        }
    }

    /// The LSTM's gates' and recurrent weights' gradients against burn's autodiff, with padded
    /// steps, a loss on every step and one on the last state.
    #[test]
    fn lstm_gradients_match_autodiff() {
        let dev = Device::flex();
        let (steps, batch, d_in, hidden) = (4, 3, 5, 6);
        let mut rng = Rng::new(7);
        let mut p = Params::new(&dev);
        let lstm = Lstm::new(&mut p, "l", d_in, hidden, &mut rng);
        let x: Vec<f32> = (0..steps * batch * d_in)
            .map(|_| rng.f64() as f32 - 0.5)
            .collect();
        // Windows of lengths 4, 2 and 1.
        let lengths = [4, 2, 1];
        let mask: Vec<f32> = (0..steps * batch)
            .map(|r| ((r / batch) < lengths[r % batch]) as u8 as f32)
            .collect();
        let wa: Vec<f32> = (0..steps * batch * hidden)
            .map(|_| rng.f64() as f32 - 0.5)
            .collect();
        let wb: Vec<f32> = (0..batch * hidden)
            .map(|_| rng.f64() as f32 - 0.5)
            .collect();
        // burn: loss = Σ wa ⊙ outputs + Σ wb ⊙ last.
        let t2 = |v: &[f32], r: usize, c: usize| {
            Tensor::<2>::from_data(TensorData::new(v.to_vec(), [r, c]), &dev)
        };
        let leaves = p.leaves();
        let step_mask: Vec<_> = (0..steps)
            .map(|s| t2(&mask[s * batch..(s + 1) * batch], batch, 1))
            .collect();
        let (out, last) = lstm.forward(
            &leaves,
            t2(&x, steps * batch, d_in),
            batch,
            Some(&step_mask),
        );
        let loss =
            (out * t2(&wa, steps * batch, hidden)).sum() + (last * t2(&wb, batch, hidden)).sum();
        let mut grads = loss.backward();
        let mut g = |q: P| to_vec(&leaves[q.0].grad_remove(&mut grads).unwrap());
        let (gwx, gwh, gb) = (g(lstm.wx), g(lstm.wh), g(lstm.b));
        // By hand.
        let net = Plain::of(&p);
        let xw = dense(&x, &net.values[lstm.wx.0], &net.values[lstm.b.0], d_in);
        let tape = lstm_forward(
            &xw,
            &net.values[lstm.wh.0],
            (steps, batch, hidden),
            false,
            Some(&mask),
        );
        close(
            tape.last(),
            &to_vec(
                &lstm
                    .forward(
                        &p.values,
                        t2(&x, steps * batch, d_in),
                        batch,
                        Some(&step_mask),
                    )
                    .1,
            ),
            1e-5,
            "last state",
        );
        let mut dwh = vec![0.0f32; hidden * 4 * hidden];
        let dg = lstm_backward(
            &tape,
            &net.values[lstm.wh.0],
            Some(&wa),
            Some(&wb),
            Some(&mut dwh),
        );
        let (mut dwx, mut db) = (vec![0.0f32; d_in * 4 * hidden], vec![0.0f32; 4 * hidden]);
        dense_backward(
            &x,
            &net.values[lstm.wx.0],
            &dg,
            (d_in, 4 * hidden),
            Some((&mut dwx, &mut db)),
            false,
        );
        close(&dwh, &gwh, 1e-4, "wh");
        close(&dwx, &gwx, 1e-4, "wx");
        close(&db, &gb, 1e-4, "b");
    }

    #[test]
    fn plain_adam_takes_the_same_step_as_adam() {
        let dev = Device::flex();
        let mut rng = Rng::new(3);
        let mut p = Params::new(&dev);
        p.xavier("a", 4, 5, &mut rng);
        p.xavier("b", 3, 2, &mut rng);
        p.trainable[1] = false;
        let mut burn_adam = Adam::new(&p, 0.01);
        burn_adam.clip_norm = 0.5;
        let mut plain_adam = burn_adam.clone();
        let mut mo = plain_adam.moments();
        let mut net = Plain::of(&p);
        let mut grads = net.zero_grads();
        let mut q = p.clone();
        for round in 0..3 {
            // loss = Σ c ⊙ a with c drawn per round: the gradient of `a` is c.
            let c: Vec<f32> = (0..20).map(|_| rng.f64() as f32 - 0.5).collect();
            let leaves = q.leaves();
            let loss = (leaves[0].clone()
                * Tensor::<2>::from_data(TensorData::new(c.clone(), [4, 5]), &dev))
            .sum();
            burn_adam.update(&mut q, &leaves, &loss);
            grads.0[0].copy_from_slice(&c);
            plain_adam.step_plain(&mut net, &grads, &mut mo);
            close(
                &net.values[0],
                &to_vec(&q.values[0]),
                1e-6,
                &format!("round {round}"),
            );
            assert_eq!(net.values[1], to_vec(&q.values[1]), "frozen");
        }
        plain_adam.set_moments(&mo, &p);
        close(
            &to_vec(&plain_adam.m[0]),
            &to_vec(&burn_adam.m[0]),
            1e-6,
            "m",
        );
        close(
            &to_vec(&plain_adam.v[0]),
            &to_vec(&burn_adam.v[0]),
            1e-6,
            "v",
        );
    }
}
