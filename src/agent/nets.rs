//! The learner: the actor, the critics and the DDPG / TD3 update, through the same [`Params`]
//! sets as the encoders (weights drawn from our seeded RNG, Adam moments stored under the
//! parameters' names). On the CPU the update and the passes run on plain vectors
//! ([`grad`](super::grad)); on a GPU backend, or with a fine-tuned encoder, on burn's tensors
//! and autodiff ([`model`](super::model)).
//!
//! Observations: the encoder's latent state, standardised per coordinate with the mean and
//! standard deviation of the training transitions' states. With a fine-tuned encoder
//! ([`Tuner`]) the observations are the history windows themselves, and every pass encodes
//! them with the agent's own copy of the encoder (its target copy for the targets).
//!
//! Actions: points of song space mapped per coordinate to [−1, 1] by the catalogue's range; the
//! actor ends in tanh, so its proto-action always lies inside the range of real tracks. Rewards
//! are the simulator's, as they are (1 for a track not skipped).

use burn::tensor::{Device, Tensor, TensorData};

use super::algo::Algorithm;
use super::config::{AgentConfig, Algo};
use super::grad::{self, PlainNets, Step};
use super::model::{Actor, QNet, Recent};
use crate::encoder::data::{Batch, SongInputs, window_row, window_width};
use crate::encoder::model::HistoryAutoencoder;
use crate::nn::backprop::Plain;
use crate::nn::{Adam, Params, to_vec};
use crate::rng::Rng;
use crate::simulator::memory::SkipModel;

/// Maps proto-actions to the actions the policy would really play (the real tracks they
/// select), so that the critic's targets never bootstrap from points of song space where no
/// track lies and the critic has never been trained: without it the actor drives the target
/// action to the corners of the cube and the critic's extrapolation there feeds on itself
/// (Q grew to 10⁹ on the real sample, where no return exceeds 1 / (1 − γ) = 10).
pub trait Projection {
    /// `obs` `[n, state]` standardised next states, `protos` `[n, action]` → `[n, action]`.
    fn project(&self, agent: &Agent, obs: &[f32], protos: &[f32]) -> Vec<f32>;
}

/// A minibatch of transitions, row-major: states and next states `[n, state]` (standardised),
/// actions `[n, action]` (in [−1, 1]), rewards `[n]`.
#[derive(Clone, Debug, Default)]
pub struct Minibatch {
    pub s: Vec<f32>,
    pub a: Vec<f32>,
    pub r: Vec<f32>,
    /// Each transition's bootstrap discount γ^k (k rewards summed in `r`).
    pub d: Vec<f32>,
    pub s2: Vec<f32>,
}

/// What one update measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct UpdateStats {
    pub critic_loss: f64,
    pub q_mean: f64,
    /// −mean Q(s, μ(s)) when the actor was updated.
    pub actor_loss: Option<f64>,
}

/// The history encoder an agent fine-tunes (`encoder_mode = "fine_tuned"`): a copy of the
/// encoder run's weights, named `encoder.…`, trained by the critic's loss, with a target copy
/// averaged like the other targets. Only the encoding path is trained; the decoder's weights
/// are kept as they came.
#[derive(Clone, Debug)]
pub struct Tuner {
    pub model: HistoryAutoencoder,
    pub songs: SongInputs,
    pub params: Params,
    pub target: Params,
    pub opt: Adam,
}

/// The learner: actor, critic(s), their targets and optimisers.
#[derive(Clone, Debug)]
pub struct Agent {
    pub cfg: AgentConfig,
    pub state_dim: usize,
    pub action_dim: usize,
    pub actor_net: Actor,
    /// One critic for DDPG, two for TD3 (in one parameter set, one optimiser).
    pub q_nets: Vec<QNet>,
    /// The recent tracks the states carry (`recent_tracks`).
    pub recent: Recent,
    pub actor: Params,
    pub actor_target: Params,
    pub critic: Params,
    pub critic_target: Params,
    pub actor_opt: Adam,
    pub critic_opt: Adam,
    /// Critic updates made so far.
    pub updates: u64,
    /// Standardisation of the encoder's states.
    pub obs_mean: Vec<f32>,
    pub obs_std: Vec<f32>,
    /// The fine-tuned encoder; None when the states are the frozen encoder's.
    pub tuner: Option<Tuner>,
    /// The skip model that re-ranks candidates beside the critic (`skip_model_weight`).
    pub skip_model: Option<SkipModel>,
    /// On the CPU without a fine-tuned encoder: the networks, targets and Adam moments as
    /// plain vectors ([`grad`](super::grad)), which update and act. While it is set, the values
    /// of the tensors in `actor`, `critic`, their targets and the optimisers' moments are not
    /// kept current (their names and shapes are): [`export`](Self::export),
    /// [`weights`](Self::weights) and the passes read the plain ones.
    pub(super) plain: Option<Box<PlainNets>>,
}

/// A minibatch's update on the plain networks.
fn step<'a>(actor: &'a Actor, q_nets: &'a [QNet], b: &'a Minibatch) -> Step<'a> {
    Step {
        actor,
        q_nets,
        s: &b.s,
        a: &b.a,
    }
}

/// The hooks of `algo` on the update.
pub fn algorithm(algo: Algo) -> &'static dyn Algorithm {
    match algo {
        Algo::Ddpg => &super::ddpg::Ddpg,
        Algo::Td3 => &super::td3::Td3,
    }
}

fn tensor(v: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

impl Agent {
    /// A fresh agent with weights drawn from `cfg.seed`.
    pub fn new(cfg: &AgentConfig, state_dim: usize, action_dim: usize, device: &Device) -> Agent {
        let mut rng = Rng::stream(cfg.seed, &[0x0041_4745_4e54]); // "AGENT"
        let recent = Recent {
            state: state_dim,
            n: cfg.recent_tracks,
            action: action_dim,
        };
        let dims = (state_dim + recent.width(), cfg.hidden, action_dim);
        let mut actor = Params::new(device);
        let actor_net = Actor::new(&mut actor, dims, &mut rng);
        let mut critic = Params::new(device);
        let q_nets = (0..algorithm(cfg.algo).critics())
            .map(|i| QNet::new(&mut critic, &format!("q{}", i + 1), dims, recent, &mut rng))
            .collect();
        let mut agent = Agent {
            actor_opt: Adam::new(&actor, cfg.actor_lr),
            critic_opt: Adam::new(&critic, cfg.critic_lr),
            actor_target: actor.clone(),
            critic_target: critic.clone(),
            cfg: cfg.clone(),
            state_dim,
            action_dim,
            actor_net,
            q_nets,
            recent,
            actor,
            critic,
            updates: 0,
            obs_mean: vec![0.0; state_dim],
            obs_std: vec![1.0; state_dim],
            tuner: None,
            skip_model: None,
            plain: None,
        };
        if *device == Device::flex() {
            agent.plain = Some(Box::new(agent.plain_nets()));
        }
        agent
    }

    /// The plain copies of the tensors.
    fn plain_nets(&self) -> PlainNets {
        PlainNets {
            actor: Plain::of(&self.actor),
            actor_target: Plain::of(&self.actor_target),
            critic: Plain::of(&self.critic),
            critic_target: Plain::of(&self.critic_target),
            actor_moments: self.actor_opt.moments(),
            critic_moments: self.critic_opt.moments(),
        }
    }

    /// Writes the plain networks, targets and moments into the tensors.
    pub(super) fn store_plain(&mut self) {
        if let Some(p) = &self.plain {
            p.actor.store(&mut self.actor);
            p.actor_target.store(&mut self.actor_target);
            p.critic.store(&mut self.critic);
            p.critic_target.store(&mut self.critic_target);
            self.actor_opt.set_moments(&p.actor_moments, &self.actor);
            self.critic_opt.set_moments(&p.critic_moments, &self.critic);
        }
    }

    /// Makes the plain networks (when kept) the tensors' values again: after the tensors were
    /// loaded or set directly.
    pub fn reload_plain(&mut self) {
        if self.plain.is_some() {
            self.plain = Some(Box::new(self.plain_nets()));
        }
    }

    /// A copy whose tensors hold the current weights (the plain ones when they are kept).
    fn with_tensors(&self) -> std::borrow::Cow<'_, Agent> {
        match self.plain {
            None => std::borrow::Cow::Borrowed(self),
            Some(_) => {
                let mut a = self.clone();
                a.store_plain();
                std::borrow::Cow::Owned(a)
            }
        }
    }

    /// Gives a fine-tuned encoder's copy of the songs a row for tracks past its own (those of
    /// logs the run never saw), as the loaded encoder's songs get ([`SongInputs::cover`]).
    pub fn cover_tracks(&mut self, tracks: usize, row: &[f32]) {
        if let Some(t) = &mut self.tuner {
            t.songs.cover(tracks, row);
        }
    }

    /// Makes the agent fine-tune its own copy of an encoder: `params` are the encoder run's
    /// weights for `model` (renamed `encoder.…` here).
    pub fn fine_tune(&mut self, model: &HistoryAutoencoder, params: &Params, songs: &SongInputs) {
        assert_eq!(
            model.latent, self.state_dim,
            "the encoder's latent is the state"
        );
        // burn's autodiff trains the encoder with the critic: the tensors take over.
        self.store_plain();
        self.plain = None;
        let mut params = params.clone();
        let dev = self.device();
        params.values = params
            .values
            .iter()
            .map(|v| v.clone().to_device(&dev))
            .collect();
        params.device = dev;
        for n in &mut params.names {
            *n = format!("encoder.{n}");
        }
        params.trainable = vec![true; params.len()];
        params.set_trainable("encoder.dec.", false);
        let opt = Adam::new(&params, self.cfg.encoder_lr);
        self.tuner = Some(Tuner {
            model: model.clone(),
            songs: songs.clone(),
            target: params.clone(),
            params,
            opt,
        });
    }

    /// Columns of an observation: the latent state, or a flat history window when the
    /// encoder is fine-tuned, then the recent tracks' blocks ([`Recent`]).
    pub fn obs_dim(&self) -> usize {
        self.base_dim() + self.recent.width()
    }

    /// Columns of an observation before the recent tracks.
    fn base_dim(&self) -> usize {
        match &self.tuner {
            None => self.state_dim,
            Some(t) => t.model.steps * window_width(t.songs.dim),
        }
    }

    /// The observations of histories: their frozen encodings (`states`, `[n, state]`, called
    /// only then) standardised, or with a fine-tuned encoder the last plays of each history
    /// as a flat window (`window_row`); then each history's recent tracks, whose coordinates
    /// are looked up in `tracks` (`[tracks, action]`, unused when `recent_tracks` is 0).
    pub fn observations<H: AsRef<[(u32, u8)]>, S: AsRef<[f32]>>(
        &self,
        histories: &[H],
        tracks: &[f32],
        states: impl FnOnce() -> S,
    ) -> Vec<f32> {
        let base = match &self.tuner {
            None => self.observe(states().as_ref()),
            Some(t) => {
                let mut rows = Vec::with_capacity(histories.len() * self.base_dim());
                for h in histories {
                    window_row(h.as_ref(), t.model.steps, &t.songs, &mut rows);
                }
                rows
            }
        };
        if self.recent.n == 0 {
            return base;
        }
        let mut rows = Vec::with_capacity(histories.len() * self.obs_dim());
        for (h, b) in histories.iter().zip(base.chunks_exact(self.base_dim())) {
            rows.extend_from_slice(b);
            self.recent.push_row(h.as_ref(), tracks, &mut rows);
        }
        rows
    }

    /// The networks' input `[n, state + recent]` of observations `[n, obs_dim]`: the
    /// observations themselves, or their encoding by the encoder weights `enc` (standardised)
    /// followed by their recent tracks.
    fn states(&self, obs: &[f32], enc: Option<&[Tensor<2>]>) -> Tensor<2> {
        let dev = self.device();
        let n = obs.len() / self.obs_dim();
        match &self.tuner {
            Some(t) => {
                let enc = enc.expect("a fine-tuned agent encodes with its encoder's weights");
                let (bd, rd) = (self.base_dim(), self.recent.width());
                let mut window = Vec::with_capacity(n * bd);
                let mut recent = Vec::with_capacity(n * rd);
                for row in obs.chunks_exact(bd + rd) {
                    window.extend_from_slice(&row[..bd]);
                    recent.extend_from_slice(&row[bd..]);
                }
                let b = Batch::from_rows(&window, t.model.steps, t.songs.dim, &dev);
                let z = t.model.encode(enc, &b);
                let d = self.state_dim;
                let mean = tensor(self.obs_mean.clone(), 1, d, &dev);
                let std = tensor(self.obs_std.clone(), 1, d, &dev);
                let z = (z - mean) / std;
                if rd == 0 {
                    z
                } else {
                    Tensor::cat(vec![z, tensor(recent, n, rd, &dev)], 1)
                }
            }
            None => tensor(obs.to_vec(), n, self.obs_dim(), &dev),
        }
    }

    /// The online encoder's weights (None when frozen).
    fn enc(&self) -> Option<&[Tensor<2>]> {
        self.tuner.as_ref().map(|t| &t.params.values[..])
    }

    /// The parameter sets that make the policy: actor, critic(s) and a fine-tuned encoder.
    /// Their names and shapes; their values only without plain networks (else read
    /// [`weights`](Self::weights)).
    pub fn param_sets(&self) -> Vec<&Params> {
        let mut v = vec![&self.actor, &self.critic];
        if let Some(t) = &self.tuner {
            v.push(&t.params);
        }
        v
    }

    /// The values of [`param_sets`](Self::param_sets) (the weights kept by `select_best`).
    pub fn weights(&self) -> Vec<Plain> {
        match &self.plain {
            Some(p) => vec![p.actor.clone(), p.critic.clone()],
            None => self.param_sets().into_iter().map(Plain::of).collect(),
        }
    }

    /// Sets what [`weights`](Self::weights) returned.
    pub fn set_weights(&mut self, mut w: Vec<Plain>) {
        if let Some(t) = &mut self.tuner {
            w.pop().expect("encoder weights").store(&mut t.params);
        }
        let (critic, actor) = (
            w.pop().expect("critic weights"),
            w.pop().expect("actor weights"),
        );
        match &mut self.plain {
            Some(p) => {
                p.critic = critic;
                p.actor = actor;
            }
            None => {
                critic.store(&mut self.critic);
                actor.store(&mut self.actor);
            }
        }
    }

    pub fn device(&self) -> Device {
        self.actor.device.clone()
    }

    /// Sets the standardisation from the training transitions' states `[n, state]`.
    pub fn fit_observations(&mut self, states: &[f32]) {
        let d = self.state_dim;
        let n = (states.len() / d).max(1) as f64;
        let mut mean = vec![0.0f64; d];
        for row in states.chunks_exact(d) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += *x as f64 / n;
            }
        }
        let mut var = vec![0.0f64; d];
        for row in states.chunks_exact(d) {
            for ((v, m), x) in var.iter_mut().zip(&mean).zip(row) {
                *v += (*x as f64 - m).powi(2) / n;
            }
        }
        self.obs_mean = mean.iter().map(|&m| m as f32).collect();
        // A floor keeps constant coordinates from blowing up.
        self.obs_std = var.iter().map(|&v| v.sqrt().max(1e-3) as f32).collect();
    }

    /// Standardised copies of encoder states `[n, state]`.
    pub fn observe(&self, states: &[f32]) -> Vec<f32> {
        states
            .chunks_exact(self.state_dim)
            .flat_map(|row| {
                row.iter()
                    .zip(self.obs_mean.iter().zip(&self.obs_std))
                    .map(|(x, (m, s))| (x - m) / s)
            })
            .collect()
    }

    /// Proto-actions μ(s) of standardised states `[n, state]`: `[n, action]` in [−1, 1].
    pub fn act(&self, obs: &[f32]) -> Vec<f32> {
        if let Some(p) = &self.plain {
            return grad::act(&self.actor_net, &p.actor, obs, self.obs_dim());
        }
        let s = self.states(obs, self.enc());
        to_vec(&self.actor_net.forward(&self.actor.values, s))
    }

    /// Q₁(s, a) of standardised states `[n, state]` and actions `[n, action]`.
    pub fn value(&self, obs: &[f32], actions: &[f32]) -> Vec<f32> {
        if let Some(p) = &self.plain {
            let s = (obs, self.obs_dim());
            return grad::values(&self.q_nets[0], &p.critic, s, actions, 1);
        }
        let n = obs.len() / self.obs_dim();
        let dev = self.device();
        let s = self.states(obs, self.enc());
        let a = tensor(actions.to_vec(), n, self.action_dim, &dev);
        to_vec(&self.q_nets[0].forward(&self.critic.values, s, a))
    }

    /// Q₁ of `k` candidate actions per state: `obs` `[n, state]`, `actions` `[n·k, action]`
    /// (the candidates of state i in rows i·k .. (i+1)·k). The state's part of the first layer
    /// is computed once per state.
    pub fn value_candidates(&self, obs: &[f32], actions: &[f32], k: usize) -> Vec<f32> {
        if let Some(p) = &self.plain {
            let s = (obs, self.obs_dim());
            return grad::values(&self.q_nets[0], &p.critic, s, actions, k);
        }
        let n = obs.len() / self.obs_dim();
        let dev = self.device();
        let p = &self.critic.values;
        let q = &self.q_nets[0];
        let s = self.states(obs, self.enc());
        let a = tensor(actions.to_vec(), n * k, self.action_dim, &dev);
        let rep = |x: Tensor<2>| {
            let c = x.dims()[1];
            x.reshape([n, 1, c]).repeat_dim(1, k).reshape([n * k, c])
        };
        // The recent tracks are compared with every candidate.
        let recent = self.recent.of(&s).map(rep);
        let hs = rep(s.matmul(p[q.ws.0].clone())); // [n·k, h]
        to_vec(&q.head(p, hs, recent, a))
    }

    /// The bootstrapped targets y = r + γ·min_i Q'_i(s', a') of a minibatch (`[n]`), with
    /// a' = μ'(s') as the algorithm's [`target_action`](super::algo::Algorithm::target_action)
    /// leaves it, then replaced by the real action it selects when a `projection` is given. No
    /// transition is terminal: the 15-step end is a truncation.
    pub fn targets(
        &self,
        b: &Minibatch,
        rng: &mut Rng,
        projection: Option<&dyn Projection>,
    ) -> Vec<f32> {
        // The algorithm's target action, then the real track it selects.
        let finish = |mut a2: Vec<f32>, rng: &mut Rng| {
            algorithm(self.cfg.algo).target_action(&self.cfg, &mut a2, rng);
            match projection {
                Some(p) => p.project(self, &b.s2, &a2),
                None => a2,
            }
        };
        let q2 = match &self.plain {
            Some(p) => {
                let width = self.obs_dim();
                let a2 = finish(
                    grad::act(&self.actor_net, &p.actor_target, &b.s2, width),
                    rng,
                );
                p.target_values(&self.q_nets, &b.s2, width, &a2)
            }
            // On a GPU the hook and the projection read the actions back to the host.
            None => {
                let s2 = self.states(&b.s2, self.tuner.as_ref().map(|t| &t.target.values[..]));
                let mu2 = self
                    .actor_net
                    .forward(&self.actor_target.values, s2.clone());
                let a2 = finish(to_vec(&mu2), rng);
                let a2 = tensor(a2, b.r.len(), self.action_dim, &self.device());
                let p = &self.critic_target.values;
                let mut q2 = self.q_nets[0].forward(p, s2.clone(), a2.clone());
                for q in &self.q_nets[1..] {
                    q2 = q2.min_pair(q.forward(p, s2.clone(), a2.clone()));
                }
                to_vec(&q2)
            }
        };
        q2.iter()
            .zip(&b.r)
            .zip(&b.d)
            .map(|((q, r), d)| r + q * d)
            .collect()
    }

    /// One update: the critic(s) towards the targets; the actor along ∇ₐQ₁ and the targets by
    /// Polyak averaging every [`actor_delay`](super::algo::Algorithm::actor_delay) updates.
    pub fn update(
        &mut self,
        b: &Minibatch,
        rng: &mut Rng,
        projection: Option<&dyn Projection>,
    ) -> UpdateStats {
        let y = self.targets(b, rng, projection);
        let (critic_loss, q_mean) = self.critic_step(b, &y);
        let mut actor_loss = None;
        if self.actor_due() {
            actor_loss = Some(self.actor_step(b));
            self.soft_update_targets();
        }
        UpdateStats {
            critic_loss,
            q_mean,
            actor_loss,
        }
    }

    /// Whether the update just made by [`critic_step`](Self::critic_step) also updates the
    /// actor and the targets.
    pub fn actor_due(&self) -> bool {
        self.updates % algorithm(self.cfg.algo).actor_delay(&self.cfg) == 0
    }

    /// One Adam step of the critic(s) towards the targets `y` `[n]`: the summed mean squared
    /// errors. Returns the loss and the mean Q₁ before the step.
    pub fn critic_step(&mut self, b: &Minibatch, y: &[f32]) -> (f64, f64) {
        if let Some(p) = &mut self.plain {
            let step = step(&self.actor_net, &self.q_nets, b);
            self.updates += 1;
            return p.critic_step(&mut self.critic_opt, &step, y);
        }
        let n = b.r.len();
        let dev = self.device();
        let y = tensor(y.to_vec(), n, 1, &dev);
        // A fine-tuned encoder learns from the critic's loss, in the same backward pass.
        let enc_leaves = self.tuner.as_ref().map(|t| t.params.leaves());
        let s = self.states(&b.s, enc_leaves.as_deref());
        let a = tensor(b.a.clone(), n, self.action_dim, &dev);
        let leaves = self.critic.leaves();
        let mut loss: Option<Tensor<1>> = None;
        let mut q_first = None;
        for q in &self.q_nets {
            let v = q.forward(&leaves, s.clone(), a.clone());
            let l = (v.clone() - y.clone()).square().mean();
            if q_first.is_none() {
                q_first = Some(v);
            }
            loss = Some(match loss {
                None => l,
                Some(acc) => acc + l,
            });
        }
        let loss = loss.expect("at least one critic");
        let critic_loss = to_vec(&loss)[0] as f64;
        let q_mean = to_vec(&q_first.expect("a critic").detach().mean())[0] as f64;
        let mut grads = loss.backward();
        self.critic_opt.apply(&mut self.critic, &leaves, &mut grads);
        if let (Some(t), Some(l)) = (&mut self.tuner, &enc_leaves) {
            t.opt.apply(&mut t.params, l, &mut grads);
        }
        self.updates += 1;
        (critic_loss, q_mean)
    }

    /// One Adam step of the actor on −mean Q₁(s, μ(s)). The critic's (and a fine-tuned
    /// encoder's) weights enter as constants: the gradient flows to the actor only. Returns
    /// the loss.
    pub fn actor_step(&mut self, b: &Minibatch) -> f64 {
        if let Some(p) = &mut self.plain {
            let step = step(&self.actor_net, &self.q_nets, b);
            return p.actor_step(&mut self.actor_opt, &step);
        }
        let s = self.states(&b.s, self.enc());
        let leaves = self.actor.leaves();
        let mu = self.actor_net.forward(&leaves, s.clone());
        let l = self.q_nets[0].forward(&self.critic.values, s, mu).mean() * -1.0;
        let loss = to_vec(&l)[0] as f64;
        self.actor_opt.update(&mut self.actor, &leaves, &l);
        loss
    }

    /// Polyak averaging of both target networks.
    pub fn soft_update_targets(&mut self) {
        if let Some(p) = &mut self.plain {
            p.soft_update(self.cfg.tau);
            return;
        }
        soft_update(&mut self.actor_target, &self.actor, self.cfg.tau);
        soft_update(&mut self.critic_target, &self.critic, self.cfg.tau);
        if let Some(t) = &mut self.tuner {
            soft_update(&mut t.target, &t.params, self.cfg.tau);
        }
    }

    /// Every tensor of the agent under a unique name: the networks (and a fine-tuned
    /// encoder, `encoder.…`), their targets (`target.`), the optimisers' moments
    /// (`adam.actor.m.…`) and the observation standardisation.
    pub fn export(&self, with_training_state: bool) -> Vec<crate::nn::store::Named> {
        let current = self.with_tensors();
        let me = current.as_ref();
        let mut out = me.actor.export();
        out.extend(me.critic.export());
        if let Some(t) = &me.tuner {
            out.extend(t.params.export());
        }
        out.push(("obs.mean".into(), [1, me.state_dim], me.obs_mean.clone()));
        out.push(("obs.std".into(), [1, me.state_dim], me.obs_std.clone()));
        if with_training_state {
            let mut targets = vec![&me.actor_target, &me.critic_target];
            let mut opts = vec![
                ("actor", &me.actor, &me.actor_opt),
                ("critic", &me.critic, &me.critic_opt),
            ];
            if let Some(t) = &me.tuner {
                targets.push(&t.target);
                opts.push(("encoder", &t.params, &t.opt));
            }
            for p in targets {
                out.extend(
                    p.export()
                        .into_iter()
                        .map(|(n, s, v)| (format!("target.{n}"), s, v)),
                );
            }
            for (name, p, opt) in opts {
                for (i, n) in p.names.iter().enumerate() {
                    let d = p.values[i].dims();
                    out.push((format!("adam.{name}.m.{n}"), d, to_vec(&opt.m[i])));
                    out.push((format!("adam.{name}.v.{n}"), d, to_vec(&opt.v[i])));
                }
            }
        }
        out
    }

    /// Loads what [`export`](Self::export) wrote; `with_training_state` also restores the
    /// targets and the optimisers (whose step counts come from `adam_steps`: the actor's, and
    /// the critic's, which a fine-tuned encoder shares).
    pub fn import(
        &mut self,
        t: &[crate::nn::store::Named],
        with_training_state: bool,
        adam_steps: (u64, u64),
    ) -> Result<(), String> {
        // The tensors take the current weights first (what is not loaded stays as it was),
        // and the plain networks take the tensors after, even when loading fails half way.
        self.store_plain();
        let loaded = self.import_tensors(t, with_training_state, adam_steps);
        self.reload_plain();
        loaded
    }

    /// [`import`](Self::import) into the tensors.
    fn import_tensors(
        &mut self,
        t: &[crate::nn::store::Named],
        with_training_state: bool,
        adam_steps: (u64, u64),
    ) -> Result<(), String> {
        self.actor.import(t)?;
        self.critic.import(t)?;
        if let Some(tuner) = &mut self.tuner {
            tuner.params.import(t)?;
        }
        let get = |name: &str| -> Result<Vec<f32>, String> {
            t.iter()
                .find(|x| x.0 == name)
                .map(|x| x.2.clone())
                .ok_or_else(|| format!("missing tensor {name}"))
        };
        self.obs_mean = get("obs.mean")?;
        self.obs_std = get("obs.std")?;
        if self.obs_mean.len() != self.state_dim || self.obs_std.len() != self.state_dim {
            return Err(format!(
                "obs.mean/obs.std: expected {} values",
                self.state_dim
            ));
        }
        if !with_training_state {
            self.actor_target = self.actor.clone();
            self.critic_target = self.critic.clone();
            if let Some(tuner) = &mut self.tuner {
                tuner.target = tuner.params.clone();
            }
            return Ok(());
        }
        let strip = |prefix: &str| -> Vec<crate::nn::store::Named> {
            t.iter()
                .filter_map(|(n, s, v)| {
                    n.strip_prefix(prefix)
                        .map(|n| (n.to_string(), *s, v.clone()))
                })
                .collect()
        };
        let targets = strip("target.");
        self.actor_target.import(&targets)?;
        self.critic_target.import(&targets)?;
        let dev = self.device();
        let mut opts = vec![
            ("actor", &self.actor, &mut self.actor_opt, adam_steps.0),
            ("critic", &self.critic, &mut self.critic_opt, adam_steps.1),
        ];
        if let Some(tuner) = &mut self.tuner {
            tuner.target.import(&targets)?;
            opts.push(("encoder", &tuner.params, &mut tuner.opt, adam_steps.1));
        }
        for (name, p, opt, step) in opts {
            let m = strip(&format!("adam.{name}.m."));
            let v = strip(&format!("adam.{name}.v."));
            for (i, n) in p.names.iter().enumerate() {
                let find = |set: &[crate::nn::store::Named]| {
                    set.iter()
                        .find(|x| &x.0 == n)
                        .map(|x| tensor(x.2.clone(), x.1[0], x.1[1], &dev))
                        .ok_or_else(|| format!("missing optimizer moment of {n}"))
                };
                opt.m[i] = find(&m)?;
                opt.v[i] = find(&v)?;
            }
            opt.step = step;
        }
        Ok(())
    }
}

/// θ' ← τθ + (1 − τ)θ' for every parameter.
pub fn soft_update(target: &mut Params, online: &Params, tau: f64) {
    for (t, o) in target.values.iter_mut().zip(&online.values) {
        *t = t.clone() * (1.0 - tau) + o.clone() * tau;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(p: &mut Params, name: &str, v: Vec<f32>) {
        let i = p.find(name).unwrap().0;
        let d = p.values[i].dims();
        p.values[i] = tensor(v, d[0], d[1], &p.device.clone());
    }

    /// The agent on plain vectors, and the same on burn tensors.
    fn both(mut a: Agent) -> [Agent; 2] {
        a.reload_plain();
        assert!(a.plain.is_some(), "the CPU's agent runs on plain vectors");
        let mut b = a.clone();
        b.plain = None;
        [a, b]
    }

    /// A 1-d state, 1-d action, 1-unit agent whose target networks are set by hand.
    fn tiny(algo: Algo) -> Agent {
        let cfg = AgentConfig {
            algo,
            hidden: 1,
            gamma: 0.5,
            tau: 0.1,
            policy_noise: 0.0,
            ..Default::default()
        };
        let mut a = Agent::new(&cfg, 1, 1, &Device::flex());
        // μ'(s) = tanh(relu(relu(s·1)·1)·w_out), w_out = 0.5.
        let t = &mut a.actor_target;
        for n in ["actor.l1.w", "actor.l2.w"] {
            set(t, n, vec![1.0]);
        }
        set(t, "actor.out.w", vec![0.5]);
        // Q'_i(s, a) = relu(relu(2s + 3a + 0.1)·1)·w_i + 0.25, w1 = 1, w2 = 0.5.
        let t = &mut a.critic_target;
        for q in ["q1", "q2"].iter().take(a.q_nets.len()) {
            set(t, &format!("{q}.l1.ws"), vec![2.0]);
            set(t, &format!("{q}.l1.wa"), vec![3.0]);
            set(t, &format!("{q}.l1.b"), vec![0.1]);
            set(t, &format!("{q}.l2.w"), vec![1.0]);
            set(t, &format!("{q}.out.b"), vec![0.25]);
        }
        set(t, "q1.out.w", vec![1.0]);
        if a.q_nets.len() > 1 {
            set(t, "q2.out.w", vec![0.5]);
        }
        a
    }

    #[test]
    fn targets_match_hand_computation() {
        // s' = 1: a' = tanh(0.5) = 0.462117; pre = 2 + 3·0.462117 + 0.1 = 3.486352;
        // Q'₁ = 3.486352 + 0.25 = 3.736352; y = r + 0.5·Q'₁ = 1 + 1.868176 = 2.868176.
        let b = Minibatch {
            s: vec![0.0],
            a: vec![0.0],
            r: vec![1.0],
            d: vec![0.5; 1],
            s2: vec![1.0],
        };
        for a in both(tiny(Algo::Ddpg)) {
            let y = a.targets(&b, &mut Rng::new(1), None)[0];
            assert!((y - 2.868176).abs() < 1e-5, "{y}");
        }
        // TD3 without smoothing noise takes the smaller twin: Q'₂ = 3.486352·0.5 + 0.25 =
        // 1.993176; y = 1 + 0.5·1.993176 = 1.996588.
        for a in both(tiny(Algo::Td3)) {
            let y = a.targets(&b, &mut Rng::new(1), None)[0];
            assert!((y - 1.996588).abs() < 1e-5, "{y}");
        }
    }

    #[test]
    fn smoothing_noise_is_clipped() {
        // σ̃ huge, clip 0.1: a' ∈ [0.462 − 0.1, 0.462 + 0.1], so y stays within
        // 1 + 0.5·(0.5·(2.1 + 3a') + 0.25) for those bounds.
        let mut a = tiny(Algo::Td3);
        a.cfg.policy_noise = 100.0;
        a.cfg.noise_clip = 0.1;
        let b = Minibatch {
            s: vec![0.0; 64],
            a: vec![0.0; 64],
            r: vec![1.0; 64],
            d: vec![0.5; 64],
            s2: vec![1.0; 64],
        };
        let bound = |ap: f32| 1.0 + 0.5 * (0.5 * (2.1 + 3.0 * ap) + 0.25);
        let (lo, hi) = (bound(0.462117 - 0.1), bound(0.462117 + 0.1));
        for a in both(a) {
            let y = a.targets(&b, &mut Rng::new(3), None);
            assert!(y.iter().all(|&v| v >= lo - 1e-5 && v <= hi + 1e-5), "{y:?}");
            assert!(
                y.iter().any(|&v| (v - lo).abs() < 1e-5),
                "clipped at the low end"
            );
        }
    }

    #[test]
    fn soft_update_by_hand() {
        let dev = Device::flex();
        let mut online = Params::new(&dev);
        online.add("w", 1, 2, vec![1.0, -1.0]);
        let mut target = Params::new(&dev);
        target.add("w", 1, 2, vec![0.0, 1.0]);
        soft_update(&mut target, &online, 0.1);
        let v = to_vec(&target.values[0]);
        assert!(
            (v[0] - 0.1).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7,
            "{v:?}"
        );
    }

    #[test]
    fn updates_reduce_the_critic_loss_and_td3_delays_the_actor() {
        // A fixed batch with reward = first state coordinate: the critic's loss must fall.
        for algo in [Algo::Ddpg, Algo::Td3] {
            let cfg = AgentConfig {
                algo,
                hidden: 16,
                critic_lr: 1e-2,
                ..Default::default()
            };
            for mut a in both(Agent::new(&cfg, 3, 2, &Device::flex())) {
                let mut rng = Rng::new(4);
                let n = 32;
                let v = |rng: &mut Rng, k: usize| -> Vec<f32> {
                    (0..k).map(|_| rng.normal() as f32).collect()
                };
                let s = v(&mut rng, n * 3);
                let b = Minibatch {
                    r: s.chunks(3).map(|x| x[0]).collect(),
                    d: vec![AgentConfig::default().gamma as f32; n],
                    s,
                    a: v(&mut rng, n * 2).iter().map(|x| x.tanh()).collect(),
                    s2: v(&mut rng, n * 3),
                };
                let first = a.update(&b, &mut rng, None);
                let mut last = first;
                let mut actor_updates = first.actor_loss.is_some() as usize;
                for _ in 0..99 {
                    last = a.update(&b, &mut rng, None);
                    actor_updates += last.actor_loss.is_some() as usize;
                }
                assert!(
                    last.critic_loss < 0.5 * first.critic_loss,
                    "{algo:?}: {first:?} → {last:?}"
                );
                let expected = if algo == Algo::Td3 { 50 } else { 100 };
                assert_eq!(actor_updates, expected, "{algo:?}");
            }
        }
    }

    #[test]
    fn export_import_round_trip_gives_identical_actions_and_values() {
        let cfg = AgentConfig {
            algo: Algo::Td3,
            hidden: 8,
            ..Default::default()
        };
        let dev = Device::flex();
        let mut a = Agent::new(&cfg, 4, 3, &dev);
        a.fit_observations(&[0.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0, 5.0]);
        let mut rng = Rng::new(2);
        let b = Minibatch {
            s: (0..16).map(|i| i as f32 * 0.1).collect(),
            a: vec![0.1; 12],
            r: vec![1.0; 4],
            d: vec![AgentConfig::default().gamma as f32; 4],
            s2: (0..16).map(|i| i as f32 * -0.1).collect(),
        };
        for _ in 0..3 {
            a.update(&b, &mut rng, None);
        }
        let tensors = a.export(true);
        let mut fresh = Agent::new(
            &AgentConfig {
                seed: 99,
                ..cfg.clone()
            },
            4,
            3,
            &dev,
        );
        fresh
            .import(&tensors, true, (a.actor_opt.step, a.critic_opt.step))
            .unwrap();
        let obs = a.observe(&[0.5, 0.5, 0.5, 0.5]);
        assert_eq!(a.act(&obs), fresh.act(&obs));
        assert_eq!(
            a.value(&obs, &[0.2, 0.2, 0.2]),
            fresh.value(&obs, &[0.2, 0.2, 0.2])
        );
        // Training continues identically.
        fresh.updates = a.updates;
        let (mut r1, mut r2) = (Rng::new(7), Rng::new(7));
        let (x, y) = (a.update(&b, &mut r1, None), fresh.update(&b, &mut r2, None));
        assert_eq!(x.critic_loss, y.critic_loss);
        assert_eq!(a.act(&obs), fresh.act(&obs));
    }

    #[test]
    fn candidate_values_equal_one_by_one_values() {
        let cfg = AgentConfig {
            hidden: 8,
            ..Default::default()
        };
        let a = Agent::new(&cfg, 2, 2, &Device::flex());
        let obs = [0.3, -0.2, 1.0, 0.5];
        let cands = [
            0.1, 0.2, -0.3, 0.4, 0.5, 0.6, -0.7, -0.8, 0.9, 0.0, 0.1, 0.1,
        ];
        let many = a.value_candidates(&obs, &cands, 3);
        let mut one = Vec::new();
        for i in 0..6 {
            one.extend(a.value(&obs[(i / 3) * 2..(i / 3) * 2 + 2], &cands[i * 2..i * 2 + 2]));
        }
        for (x, y) in many.iter().zip(&one) {
            assert!((x - y).abs() < 1e-6, "{many:?} {one:?}");
        }
    }

    #[test]
    fn recent_tracks_join_the_state_and_the_critic_reads_their_distances() {
        // Three tracks in 2-d: (0, 0), (1, 0), (0, 1); a 1-d state; the last two plays.
        let tracks = [0.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let cfg = AgentConfig {
            hidden: 1,
            recent_tracks: 2,
            ..Default::default()
        };
        let mut a = Agent::new(&cfg, 1, 2, &Device::flex());
        assert_eq!(a.obs_dim(), 1 + 2 * 4);
        let two: &[(u32, u8)] = &[(0, 1), (1, 3), (2, 0)];
        let one: &[(u32, u8)] = &[(1, 3)];
        let obs = a.observations(&[two, one], &tracks, || vec![0.5f32, -0.5]);
        #[rustfmt::skip]
        assert_eq!(obs, vec![
            // Last played first: track 2 skipped (level 0), then track 1 heard out.
            0.5, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0,
            // One play: its block, then an empty one.
            -0.5, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0,
        ]);
        // Q(s, a) = relu(relu(d₁ + 2·d₂)), d the mean squared difference from each track.
        let c = &mut a.critic;
        set(c, "q1.l1.ws", vec![0.0; 9]);
        set(c, "q1.l1.wa", vec![0.0; 2]);
        set(c, "q1.l1.wd", vec![0.5, 0.5, 1.0, 1.0]);
        set(c, "q1.l2.w", vec![1.0]);
        set(c, "q1.out.w", vec![1.0]);
        // a = (0.5, 0.5): d₁ = (0.25 + 0.25) / 2 to track 2, d₂ the same to track 1.
        for a in both(a) {
            let q = a.value(&obs, &[0.5, 0.5, 0.5, 0.5]);
            assert!(
                (q[0] - 0.75).abs() < 1e-6 && (q[1] - 0.25).abs() < 1e-6,
                "{q:?}"
            );
            // a = (1, 0) is track 1: d₂ = 0 and d₁ = (1 + 1) / 2 to track 2.
            let q = a.value(&obs[..9], &[1.0, 0.0]);
            assert!((q[0] - 1.0).abs() < 1e-6, "{q:?}");
        }
        // Candidates scored together equal one by one, with random weights.
        let a = Agent::new(&AgentConfig { hidden: 8, ..cfg }, 1, 2, &Device::flex());
        let cands = [
            0.1, 0.2, -0.3, 0.4, 0.5, 0.6, -0.7, -0.8, 0.9, 0.0, 0.1, 0.1,
        ];
        let [a, burn] = both(a);
        let many = a.value_candidates(&obs, &cands, 3);
        let theirs = burn.value_candidates(&obs, &cands, 3);
        for i in 0..6 {
            let one = a.value(&obs[(i / 3) * 9..(i / 3 + 1) * 9], &cands[i * 2..i * 2 + 2]);
            assert!((many[i] - one[0]).abs() < 1e-6, "{many:?} {one:?}");
            assert!((many[i] - theirs[i]).abs() < 1e-6, "{many:?} {theirs:?}");
        }
    }

    #[test]
    fn a_fine_tuned_encoder_learns_from_the_critic_only_and_round_trips() {
        use crate::encoder::EncoderConfig;
        use crate::encoder::data::{Histories, InputTransform};
        let dev = Device::flex();
        let ecfg = EncoderConfig {
            history: 3,
            latent: 4,
            hidden: 6,
            ..Default::default()
        };
        let songs = SongInputs {
            dim: 2,
            values: (0..10).map(|i| (i as f32 * 0.37).sin().abs()).collect(),
            transform: InputTransform::Identity,
            catalogue: None,
        };
        let mut eparams = Params::new(&dev);
        let model = HistoryAutoencoder::new(&ecfg, 2, &mut eparams);
        let hist: Vec<Vec<(u32, u8)>> = (0..8)
            .map(|i| {
                (0..1 + i % 4)
                    .map(|j| ((i + j) % 5, (i * j % 4) as u8))
                    .collect()
            })
            .collect();
        let mut h = Histories {
            steps: 3,
            ..Default::default()
        };
        hist.iter().for_each(|x| h.push(x));
        let idx: Vec<usize> = (0..hist.len()).collect();
        let frozen = to_vec(&model.encode(&eparams.values, &h.batch(&idx, &songs, &dev)));
        let cfg = AgentConfig {
            algo: Algo::Td3,
            hidden: 8,
            encoder_lr: 1e-2,
            ..Default::default()
        };
        let mut plain = Agent::new(&cfg, 4, 2, &dev);
        plain.fit_observations(&frozen);
        let mut a = plain.clone();
        a.fine_tune(&model, &eparams, &songs);
        assert_eq!(a.obs_dim(), 3 * (2 + 4 + 1));
        // Before any update the agent's encoder is the encoder run's: same actions.
        let obs = a.observations(&hist, &[], || &frozen);
        let x = plain.observations(&hist, &[], || &frozen);
        let (p, q) = (a.act(&obs), plain.act(&x));
        assert!(
            p.iter().zip(&q).all(|(u, v)| (u - v).abs() < 1e-6),
            "{p:?} {q:?}"
        );
        let half = obs.len() / 2;
        let b = Minibatch {
            s: obs[..half].to_vec(),
            a: vec![0.1; 8],
            r: vec![1.0, 0.0, 1.0, 0.0],
            d: vec![AgentConfig::default().gamma as f32; 4],
            s2: obs[half..].to_vec(),
        };
        let enc = |a: &Agent, name: &str| {
            let t = a.tuner.as_ref().unwrap();
            to_vec(&t.params.values[t.params.find(name).unwrap().0])
        };
        // The actor's step leaves the encoder alone; the critic's moves its encoding path.
        let before = enc(&a, "encoder.enc.lstm.wx");
        a.actor_step(&b);
        assert_eq!(enc(&a, "encoder.enc.lstm.wx"), before);
        let mut rng = Rng::new(5);
        for _ in 0..3 {
            a.update(&b, &mut rng, None);
        }
        assert_ne!(enc(&a, "encoder.enc.lstm.wx"), before);
        let orig = |name: &str| to_vec(&eparams.values[eparams.find(name).unwrap().0]);
        assert_ne!(enc(&a, "encoder.enc.latent.w"), orig("enc.latent.w"));
        assert_eq!(enc(&a, "encoder.dec.song.w"), orig("dec.song.w"));
        // A save and load gives identical actions and values, and training goes on alike.
        let mut fresh = Agent::new(
            &AgentConfig {
                seed: 9,
                ..cfg.clone()
            },
            4,
            2,
            &dev,
        );
        fresh.fine_tune(&model, &eparams, &songs);
        fresh
            .import(&a.export(true), true, (a.actor_opt.step, a.critic_opt.step))
            .unwrap();
        fresh.updates = a.updates;
        assert_eq!(a.act(&obs), fresh.act(&obs));
        assert_eq!(a.value(&b.s, &b.a), fresh.value(&b.s, &b.a));
        let (mut r1, mut r2) = (Rng::new(7), Rng::new(7));
        let (x, y) = (a.update(&b, &mut r1, None), fresh.update(&b, &mut r2, None));
        assert_eq!(x.critic_loss, y.critic_loss);
        assert_eq!(a.act(&obs), fresh.act(&obs));
        // A frozen agent's weights do not load into a fine-tuned one.
        let mut tuned = Agent::new(&cfg, 4, 2, &dev);
        tuned.fine_tune(&model, &eparams, &songs);
        assert!(tuned.import(&plain.export(false), false, (0, 0)).is_err());
        // With recent tracks, a fine-tuned agent's state is its encoding followed by them.
        let cfg = AgentConfig {
            recent_tracks: 2,
            ..cfg
        };
        let mut plain = Agent::new(&cfg, 4, 2, &dev);
        plain.fit_observations(&frozen);
        let mut tuned = plain.clone();
        tuned.fine_tune(&model, &eparams, &songs);
        assert_eq!(tuned.obs_dim(), 3 * (2 + 4 + 1) + 2 * (2 + 2));
        let x = plain.observations(&hist, &songs.values, || &frozen);
        let y = tuned.observations(&hist, &songs.values, || &frozen);
        let (p, q) = (plain.act(&x), tuned.act(&y));
        assert!(
            p.iter().zip(&q).all(|(u, v)| (u - v).abs() < 1e-6),
            "{p:?} {q:?}"
        );
    }
}
