//! `segue train`: trains a DDPG or TD3 agent in the simulator of the training split and
//! evaluates it in the simulator of the held-out split.
//!
//! A round runs `envs` episodes side by side in the training simulator, `horizon` steps each,
//! with `updates_per_step` updates after every step once `warmup` transitions (played with
//! uniformly random tracks) are in the replay buffer. Everything random in a round (its
//! starting histories, responses, exploration noise and minibatches) is drawn from streams of
//! the seed and the round's number, so a checkpoint at a round's end (networks, targets, Adam
//! moments, replay buffer and its position) resumes exactly.
//!
//! The run folder holds `config.json` (written first), `metrics.jsonl` (one line per round),
//! `checkpoint.safetensors`, then `weights.safetensors` (actor, critics, observation
//! standardisation, with the config in its metadata), `report.json` and `curves.png`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::config::{AgentConfig, EncoderMode, NoiseKind};
use super::error::{AgentError, bad_file};
use super::nets::Agent;
use super::policy::{ActionSpace, AgentPolicy, Heard, policy_name};
use super::replay::{NStep, Replay};
use crate::data::{LogsCoverage, Sample, Split, with_logs_held_out};
use crate::encoder::Encoder;
use crate::eval::episodes::start_sessions;
use crate::eval::world::World;
use crate::eval::{Environment, Evaluation, play};
use crate::nn::store;
use crate::output::{io_at, prepare_folder, record_config, write_json};
use crate::rng::Rng;
use crate::simulator::SimError;
use crate::simulator::error::load_inputs;
use crate::simulator::memory::{SkipModel, Transition, encode_transitions, transitions};
use crate::simulator::{SimEnv, Simulator, SimulatorConfig};

type Result<T> = std::result::Result<T, AgentError>;

pub mod files {
    pub const CONFIG: &str = "config.json";
    pub const METRICS: &str = "metrics.jsonl";
    pub const CHECKPOINT: &str = "checkpoint.safetensors";
    pub const WEIGHTS: &str = "weights.safetensors";
    /// The skip model the run re-ranks with (`skip_model_weight` > 0).
    pub const SKIP_MODEL: &str = "skip_model.safetensors";
    pub const REPORT: &str = "report.json";
    pub const PLOT: &str = "curves.png";
}

/// Metadata keys of `weights.safetensors`.
pub mod meta_keys {
    /// Wolpertinger's k the trained policy acts with.
    pub const ACT_CANDIDATES: &str = "act_candidates";
}

/// What `config.json` records: everything that determines the run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub segue_version: String,
    pub sample: PathBuf,
    pub encoder: PathBuf,
    pub agent: AgentConfig,
    pub simulator: SimulatorConfig,
    /// A synthetic world whose true model the run trained and validated against instead of
    /// the simulators (`segue train --world`, a diagnostic); absent for a normal run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<PathBuf>,
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RoundRecord {
    pub round: usize,
    pub transitions: u64,
    pub updates: u64,
    /// Mean score of the round's training episodes (with exploration), out of the horizon.
    pub train_score: f64,
    pub critic_loss: Option<f64>,
    pub q_mean: Option<f64>,
    pub actor_loss: Option<f64>,
    /// Greedy score in the validation split's simulator, on the rounds that evaluate (the
    /// score that selects the kept weights; the test split is never seen during training).
    pub valid_score: Option<f64>,
    pub valid_ci95: Option<f64>,
    /// Training seconds so far (evaluations excluded).
    pub seconds: f64,
}

/// Where the loop stands; saved in the checkpoint's metadata.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct LoopState {
    round: usize,
    updates: u64,
    actor_steps: u64,
    critic_steps: u64,
    replay_pos: usize,
    replay_pushed: u64,
    seconds: f64,
    history: Vec<RoundRecord>,
    /// The best validation score so far and the round that reached it.
    best_score: Option<f64>,
    best_round: Option<usize>,
    /// The untrained agent's validation score and half-width (round 0 of the curves).
    #[serde(default)]
    initial_valid: Option<(f64, f64)>,
}

/// What `segue train` reports (also `report.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainReport {
    pub algo: String,
    pub rounds: usize,
    pub transitions: u64,
    pub updates: u64,
    pub train_seconds: f64,
    /// Updates per second over the run, environment steps and evaluations excluded.
    pub updates_per_s: f64,
    /// The round whose weights were kept (`select_best`), else the last.
    pub kept_round: usize,
    pub best_valid_score: Option<f64>,
    /// The untrained agent's validation score (same re-ranking, before any update): what
    /// training adds is measured from here.
    #[serde(default)]
    pub initial_valid_score: Option<f64>,
    /// Wolpertinger's k the run acts with (`act_candidates`; else `candidates`).
    #[serde(default)]
    pub act_candidates: usize,
    /// The validation score of the kept weights at each k tried, when `act_candidates` is set.
    #[serde(default)]
    pub act_candidates_valid: Vec<(usize, f64)>,
    /// The trained policy in the held-out simulator from held-out starts (`simulator.episodes`).
    pub heldout: Evaluation,
    /// The same with the nearest track only (no critic re-ranking), when candidates > 1.
    pub heldout_nearest: Option<Evaluation>,
    /// The trained policy in the training simulator from training starts: the gap to
    /// `heldout` is how much the policy overfits the simulator it learned in.
    pub train_sim: Evaluation,
}

/// How a call of [`run_train`] ended.
#[derive(Debug)]
pub enum Outcome {
    Finished(Box<TrainReport>),
    /// Stopped after `stop_after` rounds; `--resume` continues.
    Paused {
        rounds_done: usize,
    },
}

/// Options of one invocation (not part of the run's config).
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    pub force: bool,
    pub resume: bool,
    pub stop_after: Option<usize>,
    pub progress: bool,
}

/// The simulators and data an agent trains and is evaluated in.
pub struct Setup {
    /// The sample and encoder folders, canonical.
    pub sample_dir: PathBuf,
    pub encoder_dir: PathBuf,
    pub encoder: Encoder,
    pub sample: Sample,
    pub train_trans: Vec<Transition>,
    /// The training transitions' encoded states `[n, latent]`.
    pub train_states: Vec<f32>,
    pub train_sim: Simulator,
    pub valid_sim: Simulator,
    pub test_sim: Simulator,
    pub space: ActionSpace,
    /// The synthetic world that training episodes and validation play against instead of the
    /// simulators ([`Setup::with_world`]).
    pub world: Option<World>,
    /// With logs the run never saw as the held-out split ([`Setup::load_on`]): what they bring.
    pub logs: Option<LogsCoverage>,
}

impl Setup {
    pub fn load(
        sample_dir: &Path,
        encoder_dir: &Path,
        sim: &SimulatorConfig,
        agent: &AgentConfig,
    ) -> Result<Setup> {
        Setup::load_on(sample_dir, encoder_dir, sim, agent, &[])
    }

    /// As [`Setup::load`], with the held-out split made of every complete session of `logs`
    /// that the sample does not hold ([`with_logs_held_out`]; none: the sample's own split).
    /// Tracks the sample never had get the song space's fallback vector.
    pub fn load_on(
        sample_dir: &Path,
        encoder_dir: &Path,
        sim: &SimulatorConfig,
        agent: &AgentConfig,
        logs: &[PathBuf],
    ) -> Result<Setup> {
        let (mut encoder, mut sample) = load_inputs(sample_dir, encoder_dir, sim)?;
        let logs = if logs.is_empty() {
            None
        } else {
            let (with_logs, coverage) =
                with_logs_held_out(&sample, logs, false).map_err(SimError::Data)?;
            sample = with_logs;
            let row = encoder.fallback.clone();
            encoder.songs.cover(sample.tracks.len(), &row);
            Some(coverage)
        };
        // The held-out split's errors name the logs it comes from.
        let test_source = match &logs {
            Some(c) => PathBuf::from(c.label()),
            None => sample_dir.to_path_buf(),
        };
        let steps = encoder.model.steps;
        let train_trans = transitions(&sample, Split::Train, steps);
        let (train_states, train_actions) = encode_transitions(&encoder, &train_trans);
        let train_sim =
            Simulator::from_encoded(&train_trans, &train_states, &train_actions, &encoder, sim);
        let valid_sim = Simulator::build_like(&sample, Split::Validation, &encoder, &train_sim);
        let test_sim = Simulator::build_like(&sample, Split::Test, &encoder, &train_sim);
        for (split, name, s) in [
            (Split::Train, "training", &train_sim),
            (Split::Validation, "validation", &valid_sim),
            (Split::Test, "test", &test_sim),
        ] {
            if s.is_empty() {
                return Err(SimError::NoTransitions {
                    sample: if split == Split::Test {
                        test_source.clone()
                    } else {
                        sample_dir.to_path_buf()
                    },
                    split: name,
                }
                .into());
            }
        }
        let space = ActionSpace::new(&encoder.songs, &agent.index).with_popularity(&sample);
        Ok(Setup {
            sample_dir: std::fs::canonicalize(sample_dir).map_err(io_at(sample_dir))?,
            encoder_dir: std::fs::canonicalize(encoder_dir).map_err(io_at(encoder_dir))?,
            encoder,
            sample,
            train_trans,
            train_states,
            train_sim,
            valid_sim,
            test_sim,
            space,
            world: None,
            logs,
        })
    }

    /// Trains against the hidden users of the synthetic world in `dir` (the one the sample
    /// was drawn from): the training episodes' responses and the validation scores come from
    /// its true model instead of the simulators of the training and validation splits. A
    /// diagnostic: the gap to a normal run is what learning from the simulator costs.
    pub fn with_world(mut self, dir: &Path) -> Result<Setup> {
        let at = |source| SimError::Env {
            at: Some(dir.to_path_buf()),
            source,
        };
        let world = World::load(dir).map_err(at)?;
        // Every track of the sample must be the world's, and every training and validation
        // session.
        for split in [Split::Train, Split::Validation] {
            world.check(&self.sample, split).map_err(at)?;
        }
        self.world = Some(world);
        Ok(self)
    }

    /// The sessions that start `n` episodes of `split` under `seed`; an error when no session
    /// is long enough.
    pub fn sessions(&self, split: Split, n: usize, seed: u64) -> Result<Vec<usize>> {
        let steps = self.train_sim.cfg.start_steps;
        let s = start_sessions(&self.sample, split, steps, n, seed);
        if s.is_empty() {
            let sample = match (&self.logs, split) {
                (Some(c), Split::Test) => PathBuf::from(c.label()),
                _ => self.sample_dir.clone(),
            };
            return Err(SimError::NoStarts {
                sample,
                split: split.name(),
                steps,
            }
            .into());
        }
        Ok(s)
    }

    /// The environment of `split`: its simulator, or the world's true model with
    /// [`Setup::with_world`] (the held-out split is always scored in its simulator here).
    fn env<'a>(&'a self, sim: &'a Simulator) -> Result<Box<dyn Environment + 'a>> {
        Ok(match &self.world {
            None => Box::new(SimEnv::new(sim, &self.encoder, &self.sample)),
            Some(w) => Box::new(
                w.env(&self.encoder, &self.sample, &sim.cfg)
                    .map_err(SimError::from)?,
            ),
        })
    }

    /// The agent's greedy policy, re-ranking `k` candidates, from `sessions` in `env`.
    pub fn play(
        &self,
        agent: &Agent,
        k: usize,
        env: &mut dyn Environment,
        sessions: &[usize],
        seed: u64,
    ) -> Result<Evaluation> {
        let mut policy = AgentPolicy {
            name: policy_name(&agent.cfg, k, self.world.is_some()),
            agent,
            space: &self.space,
            candidates: k,
        };
        Ok(play(env, &mut policy, sessions, seed, &self.encoder.songs)?)
    }

    /// The validation score of the agent's greedy policy re-ranking `k` candidates: in the
    /// validation split's simulator, or under the world's true model with `world`.
    fn validate(&self, agent: &Agent, k: usize, sessions: &[usize]) -> Result<(f64, f64)> {
        let mut env = self.env(&self.valid_sim)?;
        let e = self.play(agent, k, env.as_mut(), sessions, self.train_sim.cfg.seed)?;
        Ok((e.mean, e.ci95))
    }
}

/// Stream labels of a round.
const ROUND: u64 = 0x0052_4f55_4e44;
const STARTS: u64 = 1;
const NOISE: u64 = 2;
const MINIBATCH: u64 = 3;
const RESPONSES: u64 = 4;

/// Trains (or resumes) an agent run in `out`.
/// With `world`, training and validation play against that synthetic world's true model
/// ([`Setup::with_world`]).
pub fn run_train(
    sample_dir: &Path,
    encoder_dir: &Path,
    cfg: &AgentConfig,
    sim_cfg: &SimulatorConfig,
    world: Option<&Path>,
    out: &Path,
    opts: &TrainOptions,
) -> Result<Outcome> {
    cfg.validate().map_err(AgentError::Config)?;
    sim_cfg.validate().map_err(SimError::Config)?;
    // The folder is checked before the (slower) set-up, so a wrong --out fails at once.
    prepare_folder(out, opts.force, opts.resume, files::CHECKPOINT)?;
    let mut setup = Setup::load(sample_dir, encoder_dir, sim_cfg, cfg)?;
    if let Some(w) = world {
        setup = setup.with_world(w)?;
    }
    train_in(&setup, cfg, out, opts)
}

/// Like [`run_train`] with a loaded `setup` (its simulator settings), which several runs on
/// the same sample and encoder can share.
pub fn run_train_with(
    setup: &Setup,
    cfg: &AgentConfig,
    out: &Path,
    opts: &TrainOptions,
) -> Result<Outcome> {
    cfg.validate().map_err(AgentError::Config)?;
    prepare_folder(out, opts.force, opts.resume, files::CHECKPOINT)?;
    train_in(setup, cfg, out, opts)
}

/// Records the run's config in the prepared folder `out`, then trains (or resumes) it.
fn train_in(setup: &Setup, cfg: &AgentConfig, out: &Path, opts: &TrainOptions) -> Result<Outcome> {
    if cfg.recent_tracks > setup.encoder.model.steps {
        return Err(AgentError::Config(format!(
            "agent.recent_tracks ({}) must be at most the encoder's history length ({})",
            cfg.recent_tracks, setup.encoder.model.steps
        )));
    }
    // The agent is built (and its settings checked) before the folder records the config.
    let mut agent = new_agent(setup, cfg)?;
    let sim_cfg = &setup.train_sim.cfg;
    let run_cfg = TrainConfig {
        segue_version: env!("CARGO_PKG_VERSION").into(),
        sample: setup.sample_dir.clone(),
        encoder: setup.encoder_dir.clone(),
        agent: cfg.clone(),
        simulator: sim_cfg.clone(),
        world: setup.world.as_ref().map(|w| w.dir.clone()),
    };
    record_config(&out.join(files::CONFIG), &run_cfg, opts.resume)?;
    let mut replay = Replay::new(cfg.buffer, agent.obs_dim(), agent.action_dim);
    let mut state = LoopState {
        round: 0,
        updates: 0,
        actor_steps: 0,
        critic_steps: 0,
        replay_pos: 0,
        replay_pushed: 0,
        seconds: 0.0,
        history: Vec::new(),
        best_score: None,
        best_round: None,
        initial_valid: None,
    };
    // The weights of the best validation score (`Agent::weights`).
    let mut best: Option<Best> = None;
    let ckpt = out.join(files::CHECKPOINT);
    if opts.resume {
        (state, best) = load_checkpoint(&ckpt, &mut agent, &mut replay)?;
    } else if cfg.logged_transitions {
        prefill(setup, &agent, &mut replay);
    }
    let eval_starts = setup.sessions(Split::Validation, cfg.eval_episodes, sim_cfg.seed)?;
    if state.initial_valid.is_none() && state.round == 0 {
        // Validation reads the agent and seeds its own episodes: training is unchanged by it.
        state.initial_valid = Some(setup.validate(&agent, cfg.candidates, &eval_starts)?);
    }
    let bar = progress_bar(cfg, opts.progress, state.round);
    let mut rounds_run = 0;
    while state.round < cfg.rounds {
        if opts.stop_after.is_some_and(|n| rounds_run >= n) {
            save_checkpoint(&ckpt, &agent, &replay, &state, best.as_ref())?;
            bar.finish_and_clear();
            return Ok(Outcome::Paused {
                rounds_done: state.round,
            });
        }
        let t0 = Instant::now();
        let mut rec = run_round(setup, &mut agent, &mut replay, state.round)?;
        state.seconds += t0.elapsed().as_secs_f64();
        rec.seconds = state.seconds;
        state.round += 1;
        rounds_run += 1;
        let last = state.round == cfg.rounds;
        if last || (cfg.eval_every > 0 && state.round % cfg.eval_every == 0) {
            let (mean, ci95) = setup.validate(&agent, cfg.candidates, &eval_starts)?;
            rec.valid_score = Some(mean);
            rec.valid_ci95 = Some(ci95);
            // Only weights that have learned compete: before the first update the actor is
            // its initialisation (a near-constant proto-action at the centre of song space).
            if agent.updates > 0 && state.best_score.is_none_or(|b| mean > b) {
                state.best_score = Some(mean);
                state.best_round = Some(state.round - 1);
                best = Some(agent.weights());
            }
        }
        bar.set_message(format!(
            "train {:.2}{}",
            rec.train_score,
            rec.valid_score
                .map_or(String::new(), |h| format!(", validation {h:.2}"))
        ));
        bar.inc(1);
        state.updates = agent.updates;
        state.actor_steps = agent.actor_opt.step;
        state.critic_steps = agent.critic_opt.step;
        state.replay_pos = replay.pos;
        state.replay_pushed = replay.pushed;
        state.history.push(rec);
        write_metrics(out, &state.history)?;
        if last || (cfg.eval_every > 0 && state.round % cfg.eval_every == 0) {
            save_checkpoint(&ckpt, &agent, &replay, &state, best.as_ref())?;
        }
    }
    bar.finish_and_clear();
    let mut kept_round = state.round.saturating_sub(1);
    if cfg.select_best
        && let (Some(w), Some(r)) = (best, state.best_round)
    {
        agent.set_weights(w);
        kept_round = r;
    }
    let act_valid = choose_act_candidates(setup, &mut agent, &eval_starts)?;
    finish(setup, &agent, &state, &run_cfg, out, kept_round, act_valid)
        .map(|r| Outcome::Finished(Box::new(r)))
}

/// A fresh agent for `setup`: observation standardisation fitted on the training states, the
/// encoder's layers when it fine-tunes them, and the simulator's skip model when it re-ranks
/// with it. With a run's config and setup it is that run's agent before its first round (the
/// weights flow from `cfg.seed` alone), which `segue eval` scores as the untrained ablation.
pub fn new_agent(setup: &Setup, cfg: &AgentConfig) -> Result<Agent> {
    let skip_model = if cfg.skip_model_weight > 0.0 {
        Some(setup.train_sim.skip_model().ok_or_else(|| {
            AgentError::Config(
                "agent.skip_model_weight re-ranks with the simulator's learned metric: set \
                 [simulator] metric = \"learned\""
                    .into(),
            )
        })?)
    } else {
        None
    };
    let device = setup
        .encoder
        .config
        .encoder
        .backend
        .device()
        .map_err(AgentError::Config)?;
    let mut agent = Agent::new(
        cfg,
        setup.encoder.model.latent,
        setup.encoder.songs.dim,
        &device,
    );
    agent.fit_observations(&setup.train_states);
    if cfg.encoder_mode == EncoderMode::FineTuned {
        let enc = &setup.encoder;
        agent.fine_tune(&enc.model, &enc.params, &enc.songs);
    }
    agent.skip_model = skip_model;
    Ok(agent)
}

/// The rounds' progress bar (hidden without `progress`), at round `done`.
fn progress_bar(cfg: &AgentConfig, progress: bool, done: usize) -> indicatif::ProgressBar {
    let bar = if progress {
        indicatif::ProgressBar::new(cfg.rounds as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} rounds {msg} ({elapsed}, eta {eta})",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(cfg.algo.name());
    bar.set_position(done as u64);
    bar
}

/// Wolpertinger's k for acting (`act_candidates`), chosen in the validation simulator: sets the
/// agent's k to the best and returns each k's validation score (none when not asked).
fn choose_act_candidates(
    setup: &Setup,
    agent: &mut Agent,
    eval_starts: &[usize],
) -> Result<Vec<(usize, f64)>> {
    let cfg = agent.cfg.clone();
    let mut act_valid = Vec::new();
    if !cfg.act_candidates.is_empty() {
        let mut ks = cfg.act_candidates.clone();
        ks.push(cfg.candidates);
        ks.sort_unstable();
        ks.dedup();
        for k in ks {
            act_valid.push((k, setup.validate(agent, k, eval_starts)?.0));
        }
        let best = act_valid
            .iter()
            .fold(None::<(usize, f64)>, |b, &(k, v)| match b {
                Some((_, bv)) if bv >= v => b,
                _ => Some((k, v)),
            });
        if let Some((k, _)) = best {
            agent.cfg.candidates = k;
        }
    }
    Ok(act_valid)
}

/// Pushes the training split's logged transitions into the replay buffer: state, the played
/// track as an action, its reward under the simulator's reward, and the history after it.
fn prefill(setup: &Setup, agent: &Agent, replay: &mut Replay) {
    let enc = &setup.encoder;
    let rewards = setup.train_sim.cfg.reward.values();
    let keep = enc.model.steps;
    let next: Vec<Vec<(u32, u8)>> = setup
        .train_trans
        .iter()
        .map(|t| {
            let mut h = t.history.clone();
            h.push((t.track, t.level));
            let extra = h.len().saturating_sub(keep);
            h.drain(..extra);
            h
        })
        .collect();
    let before: Vec<&[(u32, u8)]> = setup.train_trans.iter().map(|t| &t.history[..]).collect();
    let s = agent.observations(&before, &setup.space.tracks, || &setup.train_states);
    let s2 = agent.observations(&next, &setup.space.tracks, || enc.encode(&next));
    let sd = agent.obs_dim();
    for (i, t) in setup.train_trans.iter().enumerate() {
        replay.push(
            &s[i * sd..(i + 1) * sd],
            setup.space.track(t.track),
            rewards[t.level as usize] as f32,
            agent.cfg.gamma as f32,
            &s2[i * sd..(i + 1) * sd],
        );
    }
}

/// One round: `envs` training episodes with exploration, learning as they go.
fn run_round(
    setup: &Setup,
    agent: &mut Agent,
    replay: &mut Replay,
    round: usize,
) -> Result<RoundRecord> {
    let cfg = agent.cfg.clone();
    let seed = Rng::derive(cfg.seed, &[ROUND, round as u64]);
    let sessions = setup.sessions(Split::Train, cfg.envs, Rng::derive(seed, &[STARTS]))?;
    let mut env = setup.env(&setup.train_sim)?;
    env.reset(&sessions, Rng::derive(seed, &[RESPONSES]))?;
    let n = sessions.len();
    let mut explore = Exploration {
        noise_rng: Rng::stream(seed, &[NOISE]),
        ou: vec![0.0f64; n * agent.action_dim],
    };
    let mut batch_rng = Rng::stream(seed, &[MINIBATCH]);
    let mut losses = Losses::default();
    let tracks = &setup.space.tracks;
    let mut obs = {
        let o = env.observe();
        agent.observations(o.histories, tracks, || o.states)
    };
    // Warm-up counts transitions collected in the simulator, after the logged ones.
    let logged = if cfg.logged_transitions {
        setup.train_trans.len() as u64
    } else {
        0
    };
    let warm = logged + cfg.warmup as u64;
    let mut scores = vec![0.0; n];
    let mut returns = NStep::new(cfg.n_step, cfg.gamma, n);
    let mut done = n == 0 || env.horizon() == 0;
    while !done {
        let actions = {
            let o = env.observe();
            if replay.pushed < warm {
                explore.random(o.excluded, setup.space.len() as u64)
            } else {
                explore.noisy(agent, &setup.space, &obs, &o)
            }
        };
        let steps = env.step(&actions);
        let next = {
            let o = env.observe();
            agent.observations(o.histories, tracks, || o.states)
        };
        let sd = agent.obs_dim();
        for (i, step) in steps.iter().enumerate() {
            // The agent learns from the reward drawn, or from its expectation.
            let r = if cfg.expected_rewards {
                step.expected
            } else {
                step.reward
            };
            scores[i] += step.reward;
            returns.step(
                replay,
                i,
                &obs[i * sd..(i + 1) * sd],
                setup.space.track(actions[i]),
                r,
                &next[i * sd..(i + 1) * sd],
                step.truncated,
            );
        }
        obs = next;
        if replay.pushed >= warm && replay.len >= cfg.batch {
            for _ in 0..cfg.updates_per_step {
                let b = replay.sample(cfg.batch, &mut batch_rng);
                losses.add(agent.update(&b, &mut batch_rng, Some(&setup.space)));
            }
        }
        done = steps.iter().all(|s| s.truncated);
    }
    let mean = |x: f64, n: u64| (n > 0).then(|| x / n as f64);
    Ok(RoundRecord {
        round,
        transitions: replay.pushed,
        updates: agent.updates,
        train_score: scores.iter().sum::<f64>() / n as f64,
        critic_loss: mean(losses.critic, losses.updates),
        q_mean: mean(losses.q, losses.updates),
        actor_loss: mean(losses.actor, losses.actor_updates),
        valid_score: None,
        valid_ci95: None,
        seconds: 0.0,
    })
}

/// The losses of a round's updates, summed.
#[derive(Default)]
struct Losses {
    critic: f64,
    q: f64,
    actor: f64,
    updates: u64,
    actor_updates: u64,
}

impl Losses {
    fn add(&mut self, u: super::nets::UpdateStats) {
        self.critic += u.critic_loss;
        self.q += u.q_mean;
        self.updates += 1;
        if let Some(a) = u.actor_loss {
            self.actor += a;
            self.actor_updates += 1;
        }
    }
}

/// How a round explores: uniformly random tracks during warm-up, then the actor's
/// proto-actions with Gaussian or Ornstein-Uhlenbeck noise (`ou` holds each episode's process).
struct Exploration {
    noise_rng: Rng,
    ou: Vec<f64>,
}

impl Exploration {
    /// A uniformly random allowed track per episode.
    fn random(&mut self, excluded: &[Vec<u32>], tracks: u64) -> Vec<u32> {
        excluded
            .iter()
            .map(|ex| {
                loop {
                    let t = self.noise_rng.below(tracks) as u32;
                    if ex.binary_search(&t).is_err() || ex.len() as u64 >= tracks {
                        break t;
                    }
                }
            })
            .collect()
    }

    /// The actor's proto-actions from the agent's observations `x`, with noise, mapped to
    /// tracks as the agent acts (re-ranking its candidates).
    fn noisy(
        &mut self,
        agent: &Agent,
        space: &ActionSpace,
        x: &[f32],
        o: &crate::eval::Observations,
    ) -> Vec<u32> {
        let cfg = &agent.cfg;
        let mut protos = agent.act(x);
        for (j, p) in protos.iter_mut().enumerate() {
            let e = match cfg.noise {
                NoiseKind::Gaussian => cfg.noise_sigma * self.noise_rng.normal(),
                NoiseKind::OrnsteinUhlenbeck => {
                    self.ou[j] +=
                        -cfg.ou_theta * self.ou[j] + cfg.noise_sigma * self.noise_rng.normal();
                    self.ou[j]
                }
            };
            *p = (*p + e as f32).clamp(-1.0, 1.0);
        }
        let excluded: Vec<&[u32]> = o.excluded.iter().map(|e| e.as_slice()).collect();
        let hist: Vec<&[(u32, u8)]> = o.histories.iter().map(|h| h.as_slice()).collect();
        let heard = Heard {
            histories: &hist,
            states: o.states,
        };
        space.choose(agent, x, &protos, cfg.candidates, &excluded, Some(&heard))
    }
}

fn finish(
    setup: &Setup,
    agent: &Agent,
    state: &LoopState,
    run_cfg: &TrainConfig,
    out: &Path,
    kept_round: usize,
    act_candidates_valid: Vec<(usize, f64)>,
) -> Result<TrainReport> {
    let cfg = &agent.cfg;
    let sim_cfg = &run_cfg.simulator;
    let meta = BTreeMap::from([
        (
            "train".to_string(),
            serde_json::to_string(run_cfg).expect("config serialises"),
        ),
        (
            "segue_version".to_string(),
            env!("CARGO_PKG_VERSION").into(),
        ),
        (
            meta_keys::ACT_CANDIDATES.to_string(),
            cfg.candidates.to_string(),
        ),
    ]);
    if let Some(m) = &agent.skip_model {
        let path = out.join(files::SKIP_MODEL);
        m.save(&path).map_err(io_at(&path))?;
    }
    let weights = out.join(files::WEIGHTS);
    store::save(&weights, &agent.export(false), &meta).map_err(io_at(&weights))?;
    let test = setup.sessions(Split::Test, sim_cfg.episodes, sim_cfg.seed)?;
    let train = setup.sessions(Split::Train, sim_cfg.episodes, sim_cfg.seed)?;
    // The report's scores are the simulators' (also for a run trained against a world).
    let (enc, sample) = (&setup.encoder, &setup.sample);
    let play = |k, sim, sessions: &[usize]| {
        let mut env = SimEnv::new(sim, enc, sample);
        setup.play(agent, k, &mut env, sessions, sim_cfg.seed)
    };
    let heldout = play(cfg.candidates, &setup.test_sim, &test)?;
    let heldout_nearest = match cfg.candidates > 1 {
        true => Some(play(1, &setup.test_sim, &test)?),
        false => None,
    };
    let train_sim = play(cfg.candidates, &setup.train_sim, &train)?;
    let report = TrainReport {
        algo: cfg.algo.name().into(),
        rounds: state.round,
        transitions: state.replay_pushed,
        updates: state.updates,
        train_seconds: state.seconds,
        updates_per_s: state.updates as f64 / state.seconds.max(1e-9),
        kept_round,
        best_valid_score: state.best_score,
        initial_valid_score: state.initial_valid.map(|v| v.0),
        act_candidates: cfg.candidates,
        act_candidates_valid,
        heldout,
        heldout_nearest,
        train_sim,
    };
    write_json(&out.join(files::REPORT), &report)?;
    let plotted = plot_curves(
        &out.join(files::PLOT),
        &state.history,
        state.initial_valid.map(|v| v.0),
        cfg.algo.name(),
    );
    if let Err(e) = plotted {
        tracing::warn!("{}: no plot: {e}", out.join(files::PLOT).display());
    }
    Ok(report)
}

/// Learning curves: the training episodes' score per round and the held-out score.
pub fn plot_curves(
    path: &Path,
    history: &[RoundRecord],
    initial_valid: Option<f64>,
    name: &str,
) -> std::result::Result<(), String> {
    use crate::plot::{Series, lines};
    let train = Series {
        name: format!("{name}: training episodes (with exploration)"),
        points: history
            .iter()
            .map(|r| ((r.round + 1) as f64, r.train_score))
            .collect(),
    };
    let heldout = Series {
        name: format!("{name}: validation simulator (greedy)"),
        points: initial_valid
            .map(|v| (0.0, v))
            .into_iter()
            .chain(
                history
                    .iter()
                    .filter_map(|r| r.valid_score.map(|h| ((r.round + 1) as f64, h))),
            )
            .collect(),
    };
    lines(
        path,
        "Learning curves",
        "round",
        "score out of 15",
        &[train, heldout],
    )
}

fn write_metrics(out: &Path, history: &[RoundRecord]) -> Result<()> {
    let lines: String = history
        .iter()
        .map(|r| serde_json::to_string(r).expect("records serialise") + "\n")
        .collect();
    let p = out.join(files::METRICS);
    Ok(crate::output::write_atomic(&p, lines.as_bytes()).map_err(io_at(&p))?)
}

type Best = Vec<crate::nn::backprop::Plain>;

fn save_checkpoint(
    path: &Path,
    agent: &Agent,
    replay: &Replay,
    state: &LoopState,
    best: Option<&Best>,
) -> Result<()> {
    let mut tensors = agent.export(true);
    tensors.extend(replay.export());
    if let Some(best) = best {
        for (p, w) in agent.param_sets().into_iter().zip(best) {
            for ((n, v), shape) in p.names.iter().zip(&w.values).zip(&w.shapes) {
                tensors.push((format!("best.{n}"), *shape, v.clone()));
            }
        }
    }
    let meta = BTreeMap::from([(
        "loop".to_string(),
        serde_json::to_string(state).expect("state serialises"),
    )]);
    Ok(store::save(path, &tensors, &meta).map_err(io_at(path))?)
}

fn load_checkpoint(
    path: &Path,
    agent: &mut Agent,
    replay: &mut Replay,
) -> Result<(LoopState, Option<Best>)> {
    let bad = &bad_file(path);
    let (tensors, meta) = store::load(path).map_err(AgentError::Store)?;
    let state: LoopState = meta
        .get("loop")
        .ok_or_else(|| bad("no loop state in the metadata".into()))
        .and_then(|s| serde_json::from_str(s).map_err(|e| bad(e.to_string())))?;
    agent
        .import(&tensors, true, (state.actor_steps, state.critic_steps))
        .map_err(bad)?;
    agent.updates = state.updates;
    replay
        .import(
            &tensors,
            state.replay_pos,
            state.replay_pushed,
            agent.cfg.gamma as f32,
        )
        .map_err(bad)?;
    let mut best = None;
    if state.best_round.is_some() {
        // The parameters' names and shapes (their values may be stale: the agent's weights
        // can live in its plain networks).
        let take = |p: &crate::nn::Params| -> std::result::Result<_, String> {
            let mut w = crate::nn::backprop::Plain {
                values: Vec::with_capacity(p.len()),
                shapes: p.values.iter().map(|v| v.dims()).collect(),
                trainable: p.trainable.clone(),
            };
            for (n, want) in p.names.iter().zip(&w.shapes) {
                let (_, shape, v) = tensors
                    .iter()
                    .find(|t| t.0 == format!("best.{n}"))
                    .ok_or_else(|| format!("missing best.{n}"))?;
                if shape != want {
                    return Err(format!("best.{n}: shape {shape:?}, expected {want:?}"));
                }
                w.values.push(v.clone());
            }
            Ok(w)
        };
        best = Some(
            agent
                .param_sets()
                .into_iter()
                .map(take)
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(bad)?,
        );
    }
    Ok((state, best))
}

/// A trained agent loaded from a finished run folder, with its config.
pub fn load_agent(run: &Path) -> Result<(Agent, TrainConfig)> {
    let config_path = run.join(files::CONFIG);
    let text = std::fs::read_to_string(&config_path).map_err(io_at(&config_path))?;
    let cfg: TrainConfig =
        serde_json::from_str(&text).map_err(|e| bad_file(&config_path)(e.to_string()))?;
    let weights = run.join(files::WEIGHTS);
    let (tensors, meta) = store::load(&weights).map_err(AgentError::Store)?;
    let mut cfg = cfg;
    // The k chosen after training (`act_candidates`) is the one the run acts with.
    if let Some(k) = meta.get(meta_keys::ACT_CANDIDATES) {
        cfg.agent.candidates = k.parse().ok().filter(|&k: &usize| k > 0).ok_or_else(|| {
            bad_file(&weights)(format!(
                "{} is not a positive count: {k:?}",
                meta_keys::ACT_CANDIDATES
            ))
        })?;
    }
    let get_dim = |name: &str, axis: usize| {
        tensors
            .iter()
            .find(|t| t.0 == name)
            .map(|t| t.1[axis])
            .ok_or_else(|| bad_file(&weights)(format!("no {name}")))
    };
    let state_dim = get_dim("obs.mean", 1)?;
    let action_dim = get_dim("q1.l1.wa", 0)?;
    let mut agent = Agent::new(
        &cfg.agent,
        state_dim,
        action_dim,
        &burn::tensor::Device::flex(),
    );
    if cfg.agent.encoder_mode == EncoderMode::FineTuned {
        // The architecture and the song inputs come from the encoder run; the weights are the
        // agent's own.
        let enc = Encoder::load(&cfg.encoder)?;
        agent.fine_tune(&enc.model, &enc.params, &enc.songs);
    }
    agent
        .import(&tensors, false, (0, 0))
        .map_err(bad_file(&weights))?;
    if cfg.agent.skip_model_weight > 0.0 {
        let path = run.join(files::SKIP_MODEL);
        agent.skip_model = Some(SkipModel::load(&path, action_dim).map_err(AgentError::Store)?);
    }
    Ok((agent, cfg))
}
