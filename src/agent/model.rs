//! The agents' networks on burn tensors: the actor μ(s) and the critic Q(s, a) with the
//! distances to the recent tracks the state carries (Lillicrap et al. 2016, with the
//! Wolpertinger critic of Dulac-Arnold et al. 2015 scoring real tracks). Their passes on plain
//! vectors are in [`grad`](super::grad); the update that trains them is in
//! [`nets`](super::nets).

use burn::tensor::Tensor;
use burn::tensor::activation::relu;

use crate::nn::{Linear, P, Params, tanh};
use crate::rng::Rng;

/// A dense layer whose weights are drawn from U(−a, a): the DDPG paper's initialisation of the
/// output layers (a = 3·10⁻³), so that initial actions and values are near zero.
fn small_linear(p: &mut Params, name: &str, d_in: usize, d_out: usize, rng: &mut Rng) -> Linear {
    let a = 3e-3;
    let w = (0..d_in * d_out)
        .map(|_| ((2.0 * rng.f64() - 1.0) * a) as f32)
        .collect();
    Linear {
        w: p.add(&format!("{name}.w"), d_in, d_out, w),
        b: p.bias(&format!("{name}.b"), d_out, 0.0),
    }
}

/// μ(s): `state → hidden (relu) → hidden (relu) → action (tanh)`.
#[derive(Clone, Copy, Debug)]
pub struct Actor {
    pub(super) l1: Linear,
    pub(super) l2: Linear,
    pub(super) out: Linear,
}

impl Actor {
    pub(super) fn new(p: &mut Params, dims: (usize, usize, usize), rng: &mut Rng) -> Actor {
        let (s, h, a) = dims;
        Actor {
            l1: Linear::new(p, "actor.l1", s, h, rng),
            l2: Linear::new(p, "actor.l2", h, h, rng),
            out: small_linear(p, "actor.out", h, a, rng),
        }
    }

    pub fn forward(&self, p: &[Tensor<2>], s: Tensor<2>) -> Tensor<2> {
        let h = relu(self.l1.forward(p, s));
        let h = relu(self.l2.forward(p, h));
        tanh(self.out.forward(p, h))
    }
}

/// Q(s, a): `[state ‖ action ‖ distances] → hidden (relu) → hidden (relu) → 1`. The first
/// layer is kept as separate matrices, `s·Ws + a·Wa + d(s, a)·Wd + b`, so no concatenation is
/// needed and the state's part can be shared by many candidate actions. `d(s, a)` are the
/// action's squared differences, coordinate by coordinate, from each recent track the state
/// carries (`recent_tracks`; none when 0): the first layer weighs them into learned distances,
/// to one track or to a weighted mean of them.
#[derive(Clone, Copy, Debug)]
pub struct QNet {
    pub(super) ws: P,
    pub(super) wa: P,
    pub(super) wd: Option<P>,
    pub(super) b1: P,
    pub(super) l2: Linear,
    pub(super) out: Linear,
    pub(super) recent: Recent,
}

/// Where a state row carries its recent tracks: after the encoder's `state` columns, `n`
/// blocks of `[track's coordinates (action), level / 3, present]`, the last played first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recent {
    pub state: usize,
    pub n: usize,
    pub action: usize,
}

impl Recent {
    /// Columns of one track's block.
    pub fn block(&self) -> usize {
        self.action + 2
    }

    /// Columns the recent tracks add to a state.
    pub fn width(&self) -> usize {
        self.n * self.block()
    }

    /// Appends the blocks of a history's last `n` plays (empty blocks when it is shorter) to
    /// `row`; `tracks` are every track's coordinates, `[tracks, action]`.
    pub fn push_row(&self, history: &[(u32, u8)], tracks: &[f32], row: &mut Vec<f32>) {
        let ad = self.action;
        for i in 0..self.n {
            match history.len().checked_sub(i + 1).map(|j| history[j]) {
                Some((t, level)) => {
                    row.extend_from_slice(&tracks[t as usize * ad..(t as usize + 1) * ad]);
                    row.push(level as f32 / 3.0);
                    row.push(1.0);
                }
                None => row.extend(std::iter::repeat_n(0.0, self.block())),
            }
        }
    }

    /// The recent tracks' blocks `[m, width]` of state rows `s` `[m, state + width]` (None
    /// without recent tracks).
    pub fn of(&self, s: &Tensor<2>) -> Option<Tensor<2>> {
        (self.n > 0).then(|| s.clone().narrow(1, self.state, self.width()))
    }

    /// `[m, n·action]` squared differences, coordinate by coordinate, between actions `a`
    /// `[m, action]` and the recent tracks `r` `[m, width]` ([`of`](Self::of)); 0 where a
    /// block is empty.
    pub fn distances(&self, r: &Tensor<2>, a: &Tensor<2>) -> Tensor<2> {
        let b = self.block();
        let parts = (0..self.n)
            .map(|i| {
                let track = r.clone().narrow(1, i * b, self.action);
                let present = r.clone().narrow(1, i * b + self.action + 1, 1);
                (a.clone() - track).square() * present
            })
            .collect();
        Tensor::cat(parts, 1)
    }
}

impl QNet {
    pub(super) fn new(
        p: &mut Params,
        name: &str,
        dims: (usize, usize, usize),
        recent: Recent,
        rng: &mut Rng,
    ) -> QNet {
        let (s, h, a) = dims;
        let d = recent.n * recent.action;
        // Glorot bound of the whole first layer, fan-in s + a + d.
        let bound = (6.0 / (s + a + d + h) as f64).sqrt();
        let mut draw = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| ((2.0 * rng.f64() - 1.0) * bound) as f32)
                .collect()
        };
        let ws = p.add(&format!("{name}.l1.ws"), s, h, draw(s * h));
        let wa = p.add(&format!("{name}.l1.wa"), a, h, draw(a * h));
        let wd = (d > 0).then(|| p.add(&format!("{name}.l1.wd"), d, h, draw(d * h)));
        let b1 = p.bias(&format!("{name}.l1.b"), h, 0.0);
        QNet {
            ws,
            wa,
            wd,
            b1,
            l2: Linear::new(p, &format!("{name}.l2"), h, h, rng),
            out: small_linear(p, &format!("{name}.out"), h, 1, rng),
            recent,
        }
    }

    /// `[n, 1]` values of `s` `[n, state]` and `a` `[n, action]`.
    pub fn forward(&self, p: &[Tensor<2>], s: Tensor<2>, a: Tensor<2>) -> Tensor<2> {
        let recent = self.recent.of(&s);
        self.head(p, s.matmul(p[self.ws.0].clone()), recent, a)
    }

    /// The value from the state's part of the first layer, `hs` = `s·Ws`, and the state's
    /// recent tracks ([`Recent::of`]), computed by the caller (shared by candidates).
    pub(super) fn head(
        &self,
        p: &[Tensor<2>],
        hs: Tensor<2>,
        recent: Option<Tensor<2>>,
        a: Tensor<2>,
    ) -> Tensor<2> {
        let mut pre = hs + a.clone().matmul(p[self.wa.0].clone()) + p[self.b1.0].clone();
        if let (Some(wd), Some(r)) = (self.wd, recent) {
            pre = pre + self.recent.distances(&r, &a).matmul(p[wd.0].clone());
        }
        let h = relu(self.l2.forward(p, relu(pre)));
        self.out.forward(p, h)
    }
}
