//! The actor's and the critics' passes on plain vectors ([`crate::nn::backprop`]): how the
//! agents update and act on the CPU. They compute what the burn passes of
//! [`model`](super::model) compute (held to burn's autodiff in the tests), with the batch split
//! into parts of [`PART`] rows run on the pool's threads and their gradients summed in order,
//! so that a seed gives the same weights whatever the thread count.
//!
//! On burn, a batch could not be split across the threads (only each product could, and a
//! second thread slowed the update down), and every op allocated its output; here an update is
//! its products and a few fused element-wise loops.

use super::model::{Actor, QNet, Recent};
use crate::nn::Adam;
use crate::nn::backprop::{
    Form::{AsIs, Transposed},
    Grads, Moments, Out, PART, Plain, apply, back, dense, dense_backward, in_parts, map_parts,
    matmul, relu_backward, tanh_backward,
};
use crate::nn::infer::{relu, tanh};

/// An agent's networks, their targets and their Adam moments as plain vectors: the weights
/// that update and act on the CPU.
#[derive(Clone, Debug)]
pub struct PlainNets {
    pub actor: Plain,
    pub actor_target: Plain,
    pub critic: Plain,
    pub critic_target: Plain,
    pub actor_moments: Moments,
    pub critic_moments: Moments,
}

/// The actor's activations, kept for its backward pass.
struct ActorTape {
    h1: Vec<f32>,
    h2: Vec<f32>,
    /// μ(s) `[n, action]`.
    y: Vec<f32>,
}

impl Actor {
    fn tape(&self, p: &Plain, s: &[f32]) -> ActorTape {
        let mut h1 = apply(p, &self.l1, s);
        relu(&mut h1);
        let mut h2 = apply(p, &self.l2, &h1);
        relu(&mut h2);
        let mut y = apply(p, &self.out, &h2);
        tanh(&mut y);
        ActorTape { h1, h2, y }
    }

    /// μ(s) `[n, action]` of network inputs `s` `[n, state + recent]`.
    pub fn forward_plain(&self, p: &Plain, s: &[f32]) -> Vec<f32> {
        self.tape(p, s).y
    }

    /// Adds the actor's weight gradients for the gradient `dy` `[n, action]` at its output.
    fn backward(&self, p: &Plain, g: &mut Grads, s: &[f32], t: &ActorTape, mut dy: Vec<f32>) {
        tanh_backward(&mut dy, &t.y);
        let mut dh2 = back((p, Some(&mut *g)), &self.out, &t.h2, &dy, true).expect("dx");
        relu_backward(&mut dh2, &t.h2);
        let mut dh1 = back((p, Some(&mut *g)), &self.l2, &t.h1, &dh2, true).expect("dx");
        relu_backward(&mut dh1, &t.h1);
        back((p, Some(g)), &self.l1, s, &dh1, false);
    }
}

impl Recent {
    /// [`distances`](Self::distances) on plain rows: `[m, n·action]` squared differences
    /// between actions `a` `[m, action]` and the recent tracks of network inputs `s` `[m / k,
    /// width]` (row `j` of `a` is a candidate of input `j / k`).
    fn distances_plain(&self, s: &[f32], width: usize, a: &[f32], k: usize) -> Vec<f32> {
        let (ad, b) = (self.action, self.block());
        let mut out = Vec::with_capacity(a.len() * self.n);
        for (j, act) in a.chunks_exact(ad).enumerate() {
            let row = &s[(j / k) * width + self.state..][..self.width()];
            for block in row.chunks_exact(b) {
                let present = block[ad + 1];
                out.extend(
                    act.iter()
                        .zip(&block[..ad])
                        .map(|(x, r)| (x - r) * (x - r) * present),
                );
            }
        }
        out
    }
}

/// The critic's activations, kept for its backward pass.
struct QTape {
    h1: Vec<f32>,
    h2: Vec<f32>,
    /// Q(s, a) `[m]`.
    q: Vec<f32>,
    /// The distances to the recent tracks `[m, n·action]` (empty without recent tracks).
    dist: Vec<f32>,
}

impl QNet {
    /// The values of `k` actions per input: `s` `[n, state + recent]`, `a` `[n·k, action]`.
    /// The state's part of the first layer is computed once per input.
    fn tape(&self, p: &Plain, s: &[f32], a: &[f32], k: usize) -> QTape {
        let v = &p.values;
        let [width, h] = p.shapes[self.ws.0];
        let ad = p.shapes[self.wa.0][0];
        let n = s.len() / width;
        let hs = dense(s, &v[self.ws.0], &v[self.b1.0], width);
        let mut h1 = if k == 1 {
            hs
        } else {
            hs.chunks_exact(h)
                .flat_map(|row| std::iter::repeat_n(row, k).flatten().copied())
                .collect()
        };
        let m = n * k;
        matmul(
            &mut h1,
            (a, AsIs),
            (&v[self.wa.0], AsIs),
            (m, ad, h),
            Out::Add,
        );
        let mut dist = Vec::new();
        if let Some(wd) = self.wd {
            dist = self.recent.distances_plain(s, width, a, k);
            let dd = p.shapes[wd.0][0];
            matmul(
                &mut h1,
                (&dist, AsIs),
                (&v[wd.0], AsIs),
                (m, dd, h),
                Out::Add,
            );
        }
        relu(&mut h1);
        let mut h2 = apply(p, &self.l2, &h1);
        relu(&mut h2);
        let q = apply(p, &self.out, &h2);
        QTape { h1, h2, q, dist }
    }

    /// Q(s, a) `[n·k]` of `k` actions per input (as [`tape`](Self::tape)).
    pub fn forward_plain(&self, p: &Plain, s: &[f32], a: &[f32], k: usize) -> Vec<f32> {
        self.tape(p, s, a, k).q
    }

    /// The backward pass from `dq` `[n]` (one action per input): adds the critic's weight
    /// gradients to `g` when given, and returns the gradient with respect to the actions
    /// `[n, action]` when `want_da`.
    fn backward(
        &self,
        (p, g): (&Plain, Option<&mut Grads>),
        (s, a): (&[f32], &[f32]),
        t: &QTape,
        dq: &[f32],
        want_da: bool,
    ) -> Option<Vec<f32>> {
        let v = &p.values;
        let [width, h] = p.shapes[self.ws.0];
        let ad = p.shapes[self.wa.0][0];
        let n = dq.len();
        let mut g = g;
        let mut dh2 = back((p, g.as_deref_mut()), &self.out, &t.h2, dq, true).expect("dx");
        relu_backward(&mut dh2, &t.h2);
        let mut dh1 = back((p, g.as_deref_mut()), &self.l2, &t.h1, &dh2, true).expect("dx");
        relu_backward(&mut dh1, &t.h1);
        if let Some(g) = g {
            let (ws, b1) = (self.ws.0, self.b1.0);
            dense_backward(s, &v[ws], &dh1, (width, h), Some(g.pair(ws, b1)), false);
            let w = |x: &[f32], d: usize, gw: &mut [f32]| {
                matmul(gw, (x, Transposed), (&dh1, AsIs), (d, n, h), Out::Add);
            };
            w(a, ad, &mut g.0[self.wa.0]);
            if let Some(wd) = self.wd {
                w(&t.dist, p.shapes[wd.0][0], &mut g.0[wd.0]);
            }
        }
        want_da.then(|| {
            let mut da = vec![0.0f32; n * ad];
            matmul(
                &mut da,
                (&dh1, AsIs),
                (&v[self.wa.0], Transposed),
                (n, h, ad),
                Out::Set,
            );
            if let Some(wd) = self.wd {
                let dd = p.shapes[wd.0][0];
                let mut ddist = vec![0.0f32; n * dd];
                let form = (&v[wd.0][..], Transposed);
                matmul(&mut ddist, (&dh1, AsIs), form, (n, h, dd), Out::Set);
                // ∂ (a − r)² · present / ∂a = 2 (a − r) · present, summed over the tracks.
                let (r, b) = (&self.recent, self.recent.block());
                let rows = da.chunks_exact_mut(ad).zip(a.chunks_exact(ad));
                for (j, (da, act)) in rows.enumerate() {
                    let row = &s[j * width + r.state..][..r.width()];
                    let dist = &ddist[j * dd..(j + 1) * dd];
                    for (block, dd) in row.chunks_exact(b).zip(dist.chunks_exact(ad)) {
                        let present = block[ad + 1];
                        for (((d, x), tr), g) in da.iter_mut().zip(act).zip(block).zip(dd) {
                            *d += g * 2.0 * (x - tr) * present;
                        }
                    }
                }
            }
            da
        })
    }
}

/// The networks an update runs, with its inputs: the actor, the critics and the batch's
/// network inputs and actions.
pub struct Step<'a> {
    pub actor: &'a Actor,
    pub q_nets: &'a [QNet],
    /// `[n, state + recent]`.
    pub s: &'a [f32],
    /// `[n, action]`.
    pub a: &'a [f32],
}

/// μ(s) `[n, action]` of network inputs `s` `[n, width]` with the actor `net`, in parts.
pub fn act(actor: &Actor, net: &Plain, s: &[f32], width: usize) -> Vec<f32> {
    let n = s.len() / width;
    map_parts(n, PART, |r| {
        actor.forward_plain(net, &s[r.start * width..r.end * width])
    })
}

/// Q of `k` actions per input (`a` `[n·k, action]`) with the critic `q` of `net`, in
/// parts of about [`PART`] rows.
pub fn values(q: &QNet, net: &Plain, (s, width): (&[f32], usize), a: &[f32], k: usize) -> Vec<f32> {
    let n = s.len() / width;
    let ad = a.len() / (n * k).max(1);
    map_parts(n, (PART / k).max(1), |r| {
        let s = &s[r.start * width..r.end * width];
        q.forward_plain(net, s, &a[r.start * k * ad..r.end * k * ad], k)
    })
}

impl PlainNets {
    /// The smallest target critic's value of actions `a` at next inputs `s` (`[n]`).
    pub fn target_values(&self, q_nets: &[QNet], s: &[f32], width: usize, a: &[f32]) -> Vec<f32> {
        let mut out = values(&q_nets[0], &self.critic_target, (s, width), a, 1);
        for q in &q_nets[1..] {
            let other = values(q, &self.critic_target, (s, width), a, 1);
            for (x, y) in out.iter_mut().zip(other) {
                *x = x.min(y);
            }
        }
        out
    }

    /// The critics' loss towards the targets `y` `[n]` (the sum of their mean squared
    /// errors), its gradient, and the first critic's mean value.
    pub fn critic_grads(&self, b: &Step, y: &[f32]) -> (Grads, f64, f64) {
        let n = y.len();
        let width = b.s.len() / n.max(1);
        let ad = b.a.len() / n.max(1);
        let net = &self.critic;
        let mut g = net.zero_grads();
        let parts = in_parts(net, &mut g, n, |r, g| {
            let (s, a) = (
                &b.s[r.start * width..r.end * width],
                &b.a[r.start * ad..r.end * ad],
            );
            let y = &y[r];
            let (mut loss, mut q_sum) = (0.0f64, 0.0f64);
            for (i, q) in b.q_nets.iter().enumerate() {
                let t = q.tape(net, s, a, 1);
                // ∂ mean (q − y)² / ∂q = 2 (q − y) / n.
                let dq: Vec<f32> =
                    t.q.iter()
                        .zip(y)
                        .map(|(q, y)| 2.0 * (q - y) / n as f32)
                        .collect();
                loss +=
                    t.q.iter()
                        .zip(y)
                        .map(|(q, y)| ((q - y) as f64).powi(2))
                        .sum::<f64>();
                if i == 0 {
                    q_sum = t.q.iter().map(|&q| q as f64).sum();
                }
                q.backward((net, Some(&mut *g)), (s, a), &t, &dq, false);
            }
            (loss, q_sum)
        });
        let (loss, q_sum) = parts
            .iter()
            .fold((0.0, 0.0), |acc, x| (acc.0 + x.0, acc.1 + x.1));
        (g, loss / n as f64, q_sum / n as f64)
    }

    /// One Adam step of the critics towards the targets `y` `[n]`
    /// ([`critic_grads`](Self::critic_grads)). Returns the loss and the first critic's mean
    /// value before the step.
    pub fn critic_step(&mut self, opt: &mut Adam, b: &Step, y: &[f32]) -> (f64, f64) {
        let (g, loss, q_mean) = self.critic_grads(b, y);
        opt.step_plain(&mut self.critic, &g, &mut self.critic_moments);
        (loss, q_mean)
    }

    /// The actor's loss −mean Q₁(s, μ(s)) and its gradient, the critic's weights held as they
    /// are.
    pub fn actor_grads(&self, b: &Step) -> (Grads, f64) {
        let width = self.actor.shapes[b.actor.l1.w.0][0];
        let n = b.s.len() / width;
        let (net, critic) = (&self.actor, &self.critic);
        let q = &b.q_nets[0];
        let mut g = net.zero_grads();
        let parts = in_parts(net, &mut g, n, |r, g| {
            let s = &b.s[r.start * width..r.end * width];
            let t = b.actor.tape(net, s);
            let qt = q.tape(critic, s, &t.y, 1);
            let dq = vec![-1.0 / n as f32; r.len()];
            let da = q
                .backward((critic, None), (s, &t.y), &qt, &dq, true)
                .expect("da");
            b.actor.backward(net, g, s, &t, da);
            -qt.q.iter().map(|&q| q as f64).sum::<f64>()
        });
        (g, parts.iter().sum::<f64>() / n as f64)
    }

    /// One Adam step of the actor ([`actor_grads`](Self::actor_grads)). Returns the loss.
    pub fn actor_step(&mut self, opt: &mut Adam, b: &Step) -> f64 {
        let (g, loss) = self.actor_grads(b);
        opt.step_plain(&mut self.actor, &g, &mut self.actor_moments);
        loss
    }

    /// Polyak averaging of both targets.
    pub fn soft_update(&mut self, tau: f64) {
        self.actor_target.soft_update(&self.actor, tau);
        self.critic_target.soft_update(&self.critic, tau);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::config::{AgentConfig, Algo};
    use crate::agent::nets::{Agent, Minibatch};
    use crate::nn::{assert_close, to_vec};
    use crate::rng::Rng;
    use burn::tensor::{Device, Tensor, TensorData};

    /// An agent with recent tracks after a few updates (so no weight is at its
    /// initialisation), and a batch of `n` transitions.
    fn trained(algo: Algo, n: usize) -> (Agent, Minibatch) {
        let cfg = AgentConfig {
            algo,
            hidden: 16,
            recent_tracks: 2,
            ..Default::default()
        };
        let (sd, ad) = (3, 2);
        let mut a = Agent::new(&cfg, sd, ad, &Device::flex());
        let mut rng = Rng::new(11);
        let tracks: Vec<f32> = (0..10 * ad).map(|_| rng.normal() as f32 * 0.5).collect();
        let obs = |rng: &mut Rng| -> Vec<f32> {
            let states: Vec<f32> = (0..n * sd).map(|_| rng.normal() as f32).collect();
            let histories: Vec<Vec<(u32, u8)>> = (0..n)
                .map(|i| {
                    (0..i % 4)
                        .map(|j| (rng.below(10) as u32, (j % 4) as u8))
                        .collect()
                })
                .collect();
            a.observations(&histories, &tracks, || states)
        };
        let b = Minibatch {
            s: obs(&mut rng),
            a: (0..n * ad).map(|_| (rng.normal() as f32).tanh()).collect(),
            r: (0..n).map(|i| (i % 2) as f32).collect(),
            d: vec![0.9; n],
            s2: obs(&mut rng),
        };
        for _ in 0..4 {
            a.update(&b, &mut rng, None);
        }
        a.store_plain();
        (a, b)
    }

    fn tensor(v: &[f32], cols: usize) -> Tensor<2> {
        let rows = v.len() / cols;
        Tensor::from_data(TensorData::new(v.to_vec(), [rows, cols]), &Device::flex())
    }

    fn step<'a>(a: &'a Agent, b: &'a Minibatch) -> Step<'a> {
        Step {
            actor: &a.actor_net,
            q_nets: &a.q_nets,
            s: &b.s,
            a: &b.a,
        }
    }

    fn assert_grads(what: &str, mine: &Grads, p: &crate::nn::Params, theirs: &[Vec<f32>]) {
        for (i, (a, b)) in mine.0.iter().zip(theirs).enumerate() {
            assert_close(a, b, 1e-4, &format!("{what} {}", p.names[i]));
        }
    }

    #[test]
    fn the_critics_gradient_is_burns() {
        for algo in [Algo::Ddpg, Algo::Td3] {
            let (a, b) = trained(algo, 40);
            let y: Vec<f32> = (0..40).map(|i| (i % 5) as f32 * 0.3).collect();
            let plain = a.plain.as_ref().expect("plain nets");
            let (g, loss, q_mean) = plain.critic_grads(&step(&a, &b), &y);
            let leaves = a.critic.leaves();
            let (s, act) = (tensor(&b.s, a.obs_dim()), tensor(&b.a, a.action_dim));
            let mut total: Option<Tensor<1>> = None;
            for q in &a.q_nets {
                let v = q.forward(&leaves, s.clone(), act.clone());
                let l = (v - tensor(&y, 1)).square().mean();
                total = Some(total.map_or(l.clone(), |t| t + l));
            }
            let total = total.expect("a critic");
            let want = to_vec(&total)[0] as f64;
            assert!(
                (loss - want).abs() < 1e-5 * (1.0 + want),
                "{loss} vs {want}"
            );
            let q1 = to_vec(&a.q_nets[0].forward(&a.critic.values, s, act));
            let want_q = q1.iter().map(|&q| q as f64).sum::<f64>() / 40.0;
            assert!((q_mean - want_q).abs() < 1e-5, "{q_mean} vs {want_q}");
            let mut grads = total.backward();
            let theirs: Vec<Vec<f32>> = leaves
                .iter()
                .map(|l| to_vec(&l.grad_remove(&mut grads).expect("a gradient")))
                .collect();
            assert_grads(&format!("{algo:?} critic"), &g, &a.critic, &theirs);
        }
    }

    #[test]
    fn the_actors_gradient_is_burns_and_leaves_the_critic_alone() {
        let (a, b) = trained(Algo::Td3, 40);
        let plain = a.plain.as_ref().expect("plain nets");
        let (g, loss) = plain.actor_grads(&step(&a, &b));
        let leaves = a.actor.leaves();
        let s = tensor(&b.s, a.obs_dim());
        let mu = a.actor_net.forward(&leaves, s.clone());
        let l = a.q_nets[0].forward(&a.critic.values, s, mu).mean() * -1.0;
        let want = to_vec(&l)[0] as f64;
        assert!(
            (loss - want).abs() < 1e-5 * (1.0 + want.abs()),
            "{loss} vs {want}"
        );
        let mut grads = l.backward();
        let theirs: Vec<Vec<f32>> = leaves
            .iter()
            .map(|l| to_vec(&l.grad_remove(&mut grads).expect("a gradient")))
            .collect();
        assert_grads("actor", &g, &a.actor, &theirs);
        // The critic reads recent tracks, so the distances' share of ∂Q/∂a is checked too.
        assert!(a.q_nets[0].wd.is_some(), "the critic reads recent tracks");
        let mut a = a;
        let critic = a.plain.as_ref().expect("plain nets").critic.values.clone();
        a.actor_step(&b);
        let after = &a.plain.as_ref().expect("plain nets").critic.values;
        assert_eq!(after, &critic, "the actor's step leaves the critic alone");
    }

    #[test]
    fn acting_and_values_are_burns() {
        let (a, b) = trained(Algo::Td3, 300);
        let mut burn = a.clone();
        burn.plain = None;
        let close = |what: &str, x: &[f32], y: &[f32]| assert_close(x, y, 1e-5, what);
        close("act", &a.act(&b.s), &burn.act(&b.s));
        close("value", &a.value(&b.s, &b.a), &burn.value(&b.s, &b.a));
        let cands: Vec<f32> = b.a.iter().cycle().take(b.a.len() * 3).copied().collect();
        let (x, y) = (
            a.value_candidates(&b.s, &cands, 3),
            burn.value_candidates(&b.s, &cands, 3),
        );
        close("candidates", &x, &y);
        let (mut r1, mut r2) = (Rng::new(3), Rng::new(3));
        close(
            "targets",
            &a.targets(&b, &mut r1, None),
            &burn.targets(&b, &mut r2, None),
        );
    }

    #[test]
    fn the_weights_do_not_depend_on_the_thread_count() {
        // 300 transitions: three parts, whose gradients sum in a fixed order.
        assert_eq!(300usize.div_ceil(PART), 3);
        for algo in [Algo::Ddpg, Algo::Td3] {
            let (a, b) = trained(algo, 300);
            let run = |threads: usize| {
                let mut a = a.clone();
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a pool");
                pool.install(|| {
                    let mut rng = Rng::new(5);
                    for _ in 0..3 {
                        a.update(&b, &mut rng, None);
                    }
                });
                let p = a.plain.expect("plain nets");
                (p.actor.values, p.critic_target.values, p.critic_moments.v)
            };
            let one = run(1);
            for threads in [2, 3] {
                assert!(run(threads) == one, "{algo:?}: {threads} threads");
            }
        }
    }

    #[test]
    fn the_soft_update_is_the_tensors() {
        let (a, _) = trained(Algo::Td3, 8);
        let mut burn = a.clone();
        burn.plain = None;
        let mut plain = a;
        plain.soft_update_targets();
        burn.soft_update_targets();
        plain.store_plain();
        let targets = |a: &Agent| {
            let sets = [&a.actor_target.values, &a.critic_target.values];
            sets.map(|v| v.iter().map(to_vec).collect::<Vec<_>>())
        };
        assert_eq!(targets(&plain), targets(&burn));
    }
}
