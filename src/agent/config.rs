//! Configuration of the agent (the `[agent]` table of a run config).

use serde::{Deserialize, Serialize};

use crate::songs::index::IndexKind;

/// The actor-critic algorithm.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Algo {
    /// Deep deterministic policy gradient (Lillicrap et al. 2016).
    Ddpg,
    /// Twin delayed DDPG (Fujimoto et al. 2018): twin critics, target-policy smoothing, delayed
    /// actor and target updates.
    Td3,
}

impl Algo {
    pub fn name(self) -> &'static str {
        match self {
            Algo::Ddpg => "ddpg",
            Algo::Td3 => "td3",
        }
    }
}

/// Exploration noise added to the actor's proto-action while collecting experience.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// Independent N(0, σ²) per coordinate and step.
    Gaussian,
    /// Ornstein-Uhlenbeck: dx = θ(−x)dt + σ dW per episode, temporally correlated (the DDPG
    /// paper's choice); reset at the start of every episode.
    OrnsteinUhlenbeck,
}

/// What the networks see of the history.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum EncoderMode {
    /// The history encoder's latent state, as the encoder run learned it.
    #[default]
    Frozen,
    /// The agent keeps its own copy of the encoder (started from the encoder run) and trains
    /// it with the critic's loss; the actor reads its output as a constant. The replay buffer
    /// then holds the history windows themselves, and the agent's weights hold its encoder.
    FineTuned,
}

/// Settings of the agent and its training.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub algo: Algo,
    /// Width of the two hidden layers of the actor and of each critic.
    pub hidden: usize,
    /// Discount of future rewards. The 15-step end of an episode is a truncation: the last
    /// transition bootstraps from the state after it like every other.
    pub gamma: f64,
    /// Polyak rate of the target networks: θ' ← τθ + (1 − τ)θ'.
    pub tau: f64,
    /// Rewards summed per learned transition: the critic's target is r_t + γ r_{t+1} + … +
    /// γ^{n−1} r_{t+n−1} + γ^n Q'(s_{t+n}, ·), so a reward reaches the value of the state n
    /// steps before it in one backup instead of n. An episode's last n − 1 transitions sum
    /// what is left of it and bootstrap from its end. The logged transitions stay 1-step.
    /// 1: one-step TD.
    pub n_step: usize,
    pub actor_lr: f64,
    pub critic_lr: f64,
    /// The state: the encoder's latent, frozen or fine-tuned with the critic.
    pub encoder_mode: EncoderMode,
    /// Learning rate of the fine-tuned encoder.
    pub encoder_lr: f64,
    /// Transitions per update.
    pub batch: usize,
    /// Replay buffer capacity (oldest transitions are overwritten).
    pub buffer: usize,
    pub noise: NoiseKind,
    /// Standard deviation of the exploration noise, in the actor's [−1, 1] action units.
    pub noise_sigma: f64,
    /// Mean reversion of the Ornstein-Uhlenbeck noise.
    pub ou_theta: f64,
    /// Transitions collected with uniformly random tracks before learning starts.
    pub warmup: usize,
    /// Put the training split's logged transitions (the simulator's own keys: the history, the
    /// track played, the response and the history after it) into the replay buffer before
    /// training, as demonstrations of real behaviour. They stay in the buffer until the ring
    /// overwrites them.
    pub logged_transitions: bool,
    /// Episodes run side by side in the training simulator (one round).
    pub envs: usize,
    /// Training rounds: each runs `envs` episodes of `horizon` steps.
    pub rounds: usize,
    /// Gradient updates after each step of a round (of `envs` transitions).
    pub updates_per_step: usize,
    /// Candidate tracks nearest to the proto-action, re-ranked by the critic (Wolpertinger,
    /// Dulac-Arnold et al. 2015); 1 plays the nearest track.
    pub candidates: usize,
    /// Wolpertinger's k for acting, chosen after training: the kept weights play in the
    /// validation split's simulator with `candidates` and with each k here, and the best k
    /// (the smallest on a tie) is the one the run acts with in evaluation and serving. The
    /// test split is never seen. A larger k than in training lets the critic, rather than the
    /// actor's proposal alone, choose the track. Empty: act with `candidates`.
    pub act_candidates: Vec<usize>,
    /// The most played tracks of the training split, this many, join every list of candidates
    /// that the critic re-ranks, beside the proto-action's nearest tracks: a popularity prior
    /// in the candidate generation, as multi-source recommenders have. 0: the proto-action's
    /// neighbours alone (Wolpertinger as published).
    pub popular_candidates: usize,
    /// The tracks nearest to the episode's anchor (the last track heard out, else the last
    /// played), this many, join every list of candidates when the agent acts (in training
    /// episodes, evaluation and serving): the state-dependent source of the greedy baseline's
    /// candidates. The targets' projections, which see states and not histories, do without
    /// them. 0: none.
    pub anchor_candidates: usize,
    /// Weight of the training simulator's skip model in the re-ranking: each candidate scores
    /// Q(s, a) + w·P̂(not skipped | s, a), where P̂ is the skip model that places the learned
    /// metric's keys (`[simulator] metric = "learned"`), trained on the training split's
    /// logged transitions. The critic values what follows a track; the skip model, fitted to
    /// every logged play, ranks tracks the critic was not trained near. Applied wherever the
    /// agent acts (training episodes, validation, evaluation, serving); the targets'
    /// projections, which see states and not histories, use the critic alone. The run saves
    /// the model beside its weights. 0: the critic alone.
    pub skip_model_weight: f64,
    /// The last this many tracks of the history, in the actor's song-space coordinates with
    /// their responses, join the state that the actor and the critics read, and the critics
    /// also read each action's squared differences from them, coordinate by coordinate, which
    /// their first layer weighs into distances: how a track relates to what was just
    /// heard (near the last track heard out, away from the skipped ones, not the same again),
    /// which the encoder's compressed state blurs. At most the encoder's history length. 0:
    /// the encoder's state alone.
    pub recent_tracks: usize,
    /// Learn from each step's expected reward under the environment's response distribution
    /// (the simulator's neighbour estimate, or the true model with `--world`) instead of the
    /// reward of the response drawn from it. The episode still goes on with the drawn response;
    /// the return's expectation is the same and its variance lower. Logged transitions keep
    /// their logged responses' rewards.
    pub expected_rewards: bool,
    /// The index of the tracks that proto-actions are mapped through.
    pub index: IndexKind,
    /// TD3: standard deviation and clip of the target-policy smoothing noise.
    pub policy_noise: f64,
    pub noise_clip: f64,
    /// TD3: critic updates per actor (and target) update.
    pub policy_delay: usize,
    /// Evaluation in the validation split's simulator every this many rounds (0: only at the
    /// end).
    pub eval_every: usize,
    /// Episodes of each validation evaluation.
    pub eval_episodes: usize,
    /// Keep the weights of the best validation score (early stopping) rather than the last.
    pub select_best: bool,
    pub seed: u64,
    /// Threads of a run: the parts of each update's batch (at most 128 transitions each) and
    /// the kernels. 0 is every core for `segue train`, one thread in `segue run` (whose
    /// `[pipeline] parallel` runs side by side). The weights do not depend on it.
    pub threads: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            algo: Algo::Ddpg,
            hidden: 256,
            gamma: 0.9,
            tau: 0.01,
            n_step: 1,
            actor_lr: 1e-4,
            critic_lr: 1e-3,
            encoder_mode: EncoderMode::Frozen,
            encoder_lr: 1e-4,
            batch: 256,
            buffer: 100_000,
            noise: NoiseKind::Gaussian,
            noise_sigma: 0.3,
            ou_theta: 0.15,
            warmup: 2_000,
            logged_transitions: true,
            envs: 32,
            rounds: 60,
            updates_per_step: 8,
            candidates: 16,
            act_candidates: Vec::new(),
            popular_candidates: 0,
            anchor_candidates: 0,
            skip_model_weight: 0.0,
            recent_tracks: 0,
            expected_rewards: false,
            index: IndexKind::Exact,
            policy_noise: 0.2,
            noise_clip: 0.5,
            policy_delay: 2,
            eval_every: 10,
            eval_episodes: 200,
            select_best: true,
            seed: 1,
            threads: 1,
        }
    }
}

impl AgentConfig {
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("hidden", self.hidden),
            ("batch", self.batch),
            ("buffer", self.buffer),
            ("envs", self.envs),
            ("rounds", self.rounds),
            ("candidates", self.candidates),
            ("policy_delay", self.policy_delay),
            ("eval_episodes", self.eval_episodes),
            ("n_step", self.n_step),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(format!("agent.{name} must be at least 1"));
            }
        }
        if self.act_candidates.contains(&0) {
            return Err("agent.act_candidates must be at least 1 each".into());
        }
        if self.buffer < self.batch {
            return Err(format!(
                "agent.buffer ({}) must hold at least one batch ({})",
                self.buffer, self.batch
            ));
        }
        if !(0.0..1.0).contains(&self.gamma) {
            return Err(format!("agent.gamma must be in [0, 1), got {}", self.gamma));
        }
        if !(self.tau > 0.0 && self.tau <= 1.0) {
            return Err(format!("agent.tau must be in (0, 1], got {}", self.tau));
        }
        for (name, v) in [
            ("actor_lr", self.actor_lr),
            ("critic_lr", self.critic_lr),
            ("encoder_lr", self.encoder_lr),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("agent.{name} must be positive, got {v}"));
            }
        }
        for (name, v) in [
            ("noise_sigma", self.noise_sigma),
            ("ou_theta", self.ou_theta),
            ("policy_noise", self.policy_noise),
            ("noise_clip", self.noise_clip),
            ("skip_model_weight", self.skip_model_weight),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("agent.{name} must be ≥ 0, got {v}"));
            }
        }
        Ok(())
    }
}
