//! The network pieces every stage trains (the encoders, the agents, the simulator's skip model),
//! on burn tensors: a named parameter set, dense layers, a fused LSTM with masked state updates,
//! and Adam; [`store`] keeps them on disk. [`backprop`] trains the same layers on plain vectors
//! (the history autoencoder and the agents on the CPU), [`infer`] runs them for answers.
//!
//! Parameters live in one [`Params`] list rather than in burn `Module`s so that every weight is
//! drawn from our own seeded [`Rng`] (burn's initialisers draw from a per-device generator that
//! parallel tests would share), so that frozen layers are a flag per parameter, and so that a
//! checkpoint holds the weights and the optimizer's moments under the same names.
//!
//! All tensors are 2-D. Sequences are stored time-major, `[steps * batch, features]`, row
//! `t * batch + b`: one matmul projects every step's input at once and step `t` is the
//! contiguous block of rows `t * batch .. (t + 1) * batch`.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Gradients, Tensor, TensorData};

use crate::rng::Rng;

pub mod backprop;
pub mod infer;
pub mod store;

/// A parameter of a [`Params`] set, by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct P(pub usize);

/// Named 2-D parameters (biases are `[1, n]` and broadcast over the batch).
#[derive(Clone, Debug)]
pub struct Params {
    pub names: Vec<String>,
    pub values: Vec<Tensor<2>>,
    /// False for frozen parameters: they get no gradient and no update.
    pub trainable: Vec<bool>,
    pub device: Device,
}

impl Params {
    pub fn new(device: &Device) -> Params {
        Params {
            names: Vec::new(),
            values: Vec::new(),
            trainable: Vec::new(),
            device: device.clone(),
        }
    }

    /// Adds a parameter from row-major values.
    pub fn add(&mut self, name: &str, rows: usize, cols: usize, values: Vec<f32>) -> P {
        assert_eq!(values.len(), rows * cols, "{name}: {rows}x{cols} values");
        assert!(
            !self.names.iter().any(|n| n == name),
            "duplicate parameter {name}"
        );
        self.names.push(name.to_string());
        self.values.push(Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            &self.device,
        ));
        self.trainable.push(true);
        P(self.values.len() - 1)
    }

    /// A weight drawn from Glorot/Xavier uniform: U(−a, a), a = √(6 / (fan_in + fan_out)).
    pub fn xavier(&mut self, name: &str, fan_in: usize, fan_out: usize, rng: &mut Rng) -> P {
        let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
        let v = (0..fan_in * fan_out)
            .map(|_| ((2.0 * rng.f64() - 1.0) * a) as f32)
            .collect();
        self.add(name, fan_in, fan_out, v)
    }

    /// A `[1, n]` bias filled with `value`.
    pub fn bias(&mut self, name: &str, n: usize, value: f32) -> P {
        self.add(name, 1, n, vec![value; n])
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The index of a parameter by name.
    pub fn find(&self, name: &str) -> Option<P> {
        self.names.iter().position(|n| n == name).map(P)
    }

    /// Freezes (or unfreezes) every parameter whose name starts with `prefix`.
    pub fn set_trainable(&mut self, prefix: &str, trainable: bool) {
        for (n, t) in self.names.iter().zip(&mut self.trainable) {
            if n.starts_with(prefix) {
                *t = trainable;
            }
        }
    }

    /// The tensors a forward pass reads: trainable ones as autodiff leaves that keep their
    /// gradient, frozen ones as constants.
    pub fn leaves(&self) -> Vec<Tensor<2>> {
        self.values
            .iter()
            .zip(&self.trainable)
            .map(|(v, &t)| {
                if t {
                    v.clone().autodiff().require_grad()
                } else {
                    v.clone()
                }
            })
            .collect()
    }

    /// Row-major values and shape of every parameter.
    pub fn export(&self) -> Vec<(String, [usize; 2], Vec<f32>)> {
        self.names
            .iter()
            .zip(&self.values)
            .map(|(n, v)| (n.clone(), v.dims(), to_vec(v)))
            .collect()
    }

    /// Replaces every parameter's values by those of the same name in `tensors`.
    pub fn import(&mut self, tensors: &[(String, [usize; 2], Vec<f32>)]) -> Result<(), String> {
        for (i, name) in self.names.iter().enumerate() {
            let (_, shape, v) = tensors
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or_else(|| format!("missing parameter {name}"))?;
            if *shape != self.values[i].dims() {
                return Err(format!(
                    "parameter {name}: shape {shape:?}, expected {:?}",
                    self.values[i].dims()
                ));
            }
            self.values[i] = Tensor::from_data(TensorData::new(v.clone(), *shape), &self.device);
        }
        Ok(())
    }
}

/// The values of a tensor, row-major.
pub fn to_vec<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.to_data()
        .try_to_vec::<f32>()
        .expect("float tensors hold f32")
}

/// tanh(x) = 2σ(2x) − 1. The CPU backend evaluates `tanh` with the C library's scalar `tanhf`,
/// which took a quarter of an encoder update; its sigmoid is several times cheaper.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    sigmoid(x * 2.0) * 2.0 - 1.0
}

/// A dense layer `x W + b`.
#[derive(Clone, Copy, Debug)]
pub struct Linear {
    pub w: P,
    pub b: P,
}

impl Linear {
    pub fn new(p: &mut Params, name: &str, d_in: usize, d_out: usize, rng: &mut Rng) -> Linear {
        Linear {
            w: p.xavier(&format!("{name}.w"), d_in, d_out, rng),
            b: p.bias(&format!("{name}.b"), d_out, 0.0),
        }
    }

    /// `[n, d_in]` → `[n, d_out]`.
    pub fn forward(&self, p: &[Tensor<2>], x: Tensor<2>) -> Tensor<2> {
        x.matmul(p[self.w.0].clone()) + p[self.b.0].clone()
    }
}

/// An LSTM layer (Hochreiter & Schmidhuber 1997, with a forget gate) whose four gates share one
/// input matrix `[d_in, 4H]` and one recurrent matrix `[H, 4H]`, in the order input, forget,
/// cell, output.
#[derive(Clone, Copy, Debug)]
pub struct Lstm {
    pub wx: P,
    pub wh: P,
    pub b: P,
    pub hidden: usize,
}

impl Lstm {
    /// The input projection `x Wx + b` as a dense layer.
    pub fn input(&self) -> Linear {
        Linear {
            w: self.wx,
            b: self.b,
        }
    }

    pub fn new(p: &mut Params, name: &str, d_in: usize, hidden: usize, rng: &mut Rng) -> Lstm {
        let wx = p.xavier(&format!("{name}.wx"), d_in, 4 * hidden, rng);
        let wh = p.xavier(&format!("{name}.wh"), hidden, 4 * hidden, rng);
        // Forget-gate bias 1 (Jozefowicz et al. 2015): remember by default early in training.
        let mut b = vec![0.0; 4 * hidden];
        b[hidden..2 * hidden].fill(1.0);
        let b = p.add(&format!("{name}.b"), 1, 4 * hidden, b);
        Lstm { wx, wh, b, hidden }
    }

    /// Runs the layer over a time-major sequence.
    ///
    /// `x`: `[steps * batch, d_in]`; `mask`: per step `[batch, 1]` with 1 for a real step and 0
    /// for padding (None: every step is real). A padded step leaves the state unchanged, so the
    /// final state is the state after each sequence's last real step and padding leaves no trace.
    /// Returns the hidden state of every step, `[steps * batch, H]`, and the final one `[batch, H]`.
    pub fn forward(
        &self,
        p: &[Tensor<2>],
        x: Tensor<2>,
        batch: usize,
        mask: Option<&[Tensor<2>]>,
    ) -> (Tensor<2>, Tensor<2>) {
        let steps = x.dims()[0] / batch;
        let xw = x.matmul(p[self.wx.0].clone()) + p[self.b.0].clone(); // [steps*batch, 4H]
        let step_input = |t: usize| xw.clone().narrow(0, t * batch, batch);
        self.run(p, step_input, steps, batch, mask)
    }

    /// Like [`forward`](Self::forward) with the same input `[batch, d_in]` at every step (the
    /// decoder of a repeat-vector autoencoder): its projection is computed once.
    pub fn forward_repeated(&self, p: &[Tensor<2>], x: Tensor<2>, steps: usize) -> Tensor<2> {
        let batch = x.dims()[0];
        let xw = x.matmul(p[self.wx.0].clone()) + p[self.b.0].clone(); // [batch, 4H]
        self.run(p, |_| xw.clone(), steps, batch, None).0
    }

    fn run(
        &self,
        p: &[Tensor<2>],
        step_input: impl Fn(usize) -> Tensor<2>,
        steps: usize,
        batch: usize,
        mask: Option<&[Tensor<2>]>,
    ) -> (Tensor<2>, Tensor<2>) {
        let h_dim = self.hidden;
        let device = p[self.wh.0].device();
        let mut h: Tensor<2> = Tensor::zeros([batch, h_dim], &device);
        let mut c: Tensor<2> = Tensor::zeros([batch, h_dim], &device);
        let mut outputs = Vec::with_capacity(steps);
        for t in 0..steps {
            let g = step_input(t) + h.clone().matmul(p[self.wh.0].clone()); // [batch, 4H]
            let i = sigmoid(g.clone().narrow(1, 0, h_dim));
            let f = sigmoid(g.clone().narrow(1, h_dim, h_dim));
            let u = tanh(g.clone().narrow(1, 2 * h_dim, h_dim));
            let o = sigmoid(g.narrow(1, 3 * h_dim, h_dim));
            let c_new = f * c.clone() + i * u;
            let h_new = o * tanh(c_new.clone());
            match mask {
                Some(m) => {
                    // h ← h + m (h_new − h): padded steps (m = 0) keep the previous state.
                    let m = m[t].clone();
                    c = c.clone() + (c_new - c) * m.clone();
                    h = h.clone() + (h_new - h) * m;
                }
                None => {
                    c = c_new;
                    h = h_new;
                }
            }
            outputs.push(h.clone());
        }
        (Tensor::cat(outputs, 0), h)
    }
}

/// Adam (Kingma & Ba 2015) with bias correction, over the trainable parameters of a [`Params`].
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Clip the gradients to this global L2 norm before the update (0: no clipping).
    pub clip_norm: f64,
    /// Updates made so far (the bias correction's t).
    pub step: u64,
    /// First and second moments, one per parameter (zeros until its first update).
    pub m: Vec<Tensor<2>>,
    pub v: Vec<Tensor<2>>,
}

impl Adam {
    pub fn new(params: &Params, lr: f64) -> Adam {
        let zeros = |t: &Tensor<2>| Tensor::zeros(t.dims(), &params.device);
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            clip_norm: 0.0,
            step: 0,
            m: params.values.iter().map(zeros).collect(),
            v: params.values.iter().map(zeros).collect(),
        }
    }

    /// One update from the gradients of `loss` with respect to `leaves` (from
    /// [`Params::leaves`]).
    pub fn update(&mut self, params: &mut Params, leaves: &[Tensor<2>], loss: &Tensor<1>) {
        self.apply(params, leaves, &mut loss.backward());
    }

    /// One update from gradients already computed (`loss.backward()`); takes only the
    /// gradients of `leaves`, so several optimisers can share one backward pass.
    pub fn apply(&mut self, params: &mut Params, leaves: &[Tensor<2>], grads: &mut Gradients) {
        let mut g: Vec<Option<Tensor<2>>> = leaves
            .iter()
            .zip(&params.trainable)
            .map(|(leaf, &t)| if t { leaf.grad_remove(grads) } else { None })
            .collect();
        if self.clip_norm > 0.0 {
            // Clip by the global norm (Pascanu et al. 2013): one loss spike cannot throw the
            // recurrent weights far off.
            let sq: Vec<Tensor<1>> = g
                .iter()
                .flatten()
                .map(|x| x.clone().square().sum())
                .collect();
            if !sq.is_empty() {
                let norm = (to_vec(&Tensor::cat(sq, 0).sum())[0] as f64).sqrt();
                if norm > self.clip_norm {
                    let s = self.clip_norm / norm;
                    for x in g.iter_mut().flatten() {
                        *x = x.clone() * s;
                    }
                }
            }
        }
        self.step += 1;
        let t = self.step as i32;
        let c1 = 1.0 - self.beta1.powi(t);
        let c2 = 1.0 - self.beta2.powi(t);
        // θ ← θ − lr · m̂ / (√v̂ + ε), with m̂ = m / (1 − β1^t) and v̂ = v / (1 − β2^t).
        let step_size = self.lr / c1;
        for (i, g) in g.into_iter().enumerate() {
            let Some(g) = g else {
                continue;
            };
            let m = self.m[i].clone() * self.beta1 + g.clone() * (1.0 - self.beta1);
            let v = self.v[i].clone() * self.beta2 + g.square() * (1.0 - self.beta2);
            let denom = (v.clone() / c2).sqrt() + self.eps;
            params.values[i] = params.values[i].clone() - m.clone() / denom * step_size;
            self.m[i] = m;
            self.v[i] = v;
        }
    }
}

/// Asserts that `a` and `b` agree element by element within `tol` (relative to `b`, absolute
/// near zero), naming `what` and the first index that does not.
#[cfg(test)]
pub(crate) fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex()
    }

    #[test]
    fn lstm_step_matches_hand_computation() {
        // One unit, one input, one step, zero initial state:
        // gates g = x·wx + b = [0.5·x, 0.5·x + 1, 0.5·x, 0.5·x] with wx = 0.5 everywhere.
        // x = 1: i = σ(0.5), f = σ(1.5), u = tanh(0.5), o = σ(0.5);
        // c = i·u = 0.622459·0.462117 = 0.287650; h = o·tanh(c) = 0.622459·0.279966 = 0.174268.
        let dev = device();
        let mut p = Params::new(&dev);
        let mut rng = Rng::new(1);
        let l = Lstm::new(&mut p, "l", 1, 1, &mut rng);
        p.values[l.wx.0] = Tensor::from_data(TensorData::new(vec![0.5f32; 4], [1, 4]), &dev);
        let x = Tensor::from_data(TensorData::new(vec![1.0f32], [1, 1]), &dev);
        let (_, h) = l.forward(&p.values, x, 1, None);
        let h = to_vec(&h)[0];
        assert!((h - 0.174268).abs() < 1e-5, "{h}");
    }

    #[test]
    fn masked_steps_leave_the_state_unchanged() {
        let dev = device();
        let mut p = Params::new(&dev);
        let mut rng = Rng::new(2);
        let l = Lstm::new(&mut p, "l", 3, 4, &mut rng);
        let batch = 2;
        let x: Vec<f32> = (0..3 * batch * 3)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        let x = Tensor::from_data(TensorData::new(x, [3 * batch, 3]), &dev);
        // Sequence 0 is 3 steps long, sequence 1 only 1: its final state must equal the state
        // after running its first step alone.
        let m: Vec<Tensor<2>> = [[1.0f32, 1.0], [1.0, 0.0], [1.0, 0.0]]
            .iter()
            .map(|r| Tensor::from_data(TensorData::new(r.to_vec(), [2, 1]), &dev))
            .collect();
        let (_, h) = l.forward(&p.values, x.clone(), batch, Some(&m));
        let (_, h1) = l.forward(&p.values, x.narrow(0, 0, batch), batch, None);
        let (h, h1) = (to_vec(&h), to_vec(&h1));
        assert_eq!(&h[4..8], &h1[4..8]);
        assert_ne!(&h[0..4], &h1[0..4]);
    }

    #[test]
    fn adam_first_step_moves_each_weight_by_lr() {
        // With bias correction the first Adam step is −lr · g / (|g| + ε) ≈ −lr · sign(g).
        let dev = device();
        let mut p = Params::new(&dev);
        let w = p.add("w", 1, 2, vec![1.0, -2.0]);
        let mut adam = Adam::new(&p, 0.1);
        let leaves = p.leaves();
        // loss = sum(w²): gradient 2w = [2, −4].
        let loss = leaves[w.0].clone().square().sum();
        adam.update(&mut p, &leaves, &loss);
        let v = to_vec(&p.values[w.0]);
        assert!(
            (v[0] - 0.9).abs() < 1e-6 && (v[1] + 1.9).abs() < 1e-6,
            "{v:?}"
        );
    }

    #[test]
    fn frozen_parameters_do_not_move() {
        let dev = device();
        let mut p = Params::new(&dev);
        let a = p.add("frozen.w", 1, 1, vec![1.0]);
        let b = p.add("free.w", 1, 1, vec![1.0]);
        p.set_trainable("frozen.", false);
        let mut adam = Adam::new(&p, 0.1);
        let leaves = p.leaves();
        let loss = (leaves[a.0].clone() * leaves[b.0].clone()).sum();
        adam.update(&mut p, &leaves, &loss);
        assert_eq!(to_vec(&p.values[a.0]), vec![1.0]);
        assert!((to_vec(&p.values[b.0])[0] - 0.9).abs() < 1e-6);
    }

    #[test]
    fn clipping_scales_the_gradient_to_the_global_norm() {
        // loss = 3a + 4b: gradient (3, 4), norm 5; clipped to norm 1 it is (0.6, 0.8). Adam's
        // first step ignores the scale (≈ lr · sign), so check the first moment: (1 − β1) · g.
        let dev = device();
        let mut p = Params::new(&dev);
        let a = p.add("a", 1, 1, vec![0.0]);
        let b = p.add("b", 1, 1, vec![0.0]);
        let mut adam = Adam::new(&p, 0.1);
        adam.clip_norm = 1.0;
        let leaves = p.leaves();
        let loss = (leaves[a.0].clone() * 3.0 + leaves[b.0].clone() * 4.0).sum();
        adam.update(&mut p, &leaves, &loss);
        let (ma, mb) = (to_vec(&adam.m[a.0])[0], to_vec(&adam.m[b.0])[0]);
        assert!(
            (ma - 0.06).abs() < 1e-6 && (mb - 0.08).abs() < 1e-6,
            "{ma} {mb}"
        );
    }
}
