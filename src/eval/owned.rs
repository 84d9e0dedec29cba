//! Batched episodes owned in one value, for callers that cannot hold the environments' borrows
//! between steps (the Python bindings): the setup, the world and the episodes in progress live
//! here, and each call plays through the same [`SimEnv`] or [`TrueEnv`](super::world::TrueEnv)
//! as every other caller.

use std::path::Path;

use crate::agent::AgentConfig;
use crate::agent::policy::ActionSpace;
use crate::agent::train::Setup;
use crate::data::Split;
use crate::simulator::{SimEnv, SimError, Simulator, SimulatorConfig};

use super::env::{EnvError, Environment, Step};
use super::episodes::{Episodes, start_sessions};
use super::error::EvalError;
use super::policy::Policy;
use super::reward::Reward;
use super::world::{Hidden, World};

/// The episodes in progress, apart from the environment they play in.
enum State {
    Sim(Episodes),
    World(Hidden),
}

/// What the episodes look like after a reset or a step: the encoded histories `[n, latent]`,
/// and the tracks each episode may no longer be recommended.
pub struct Seen {
    pub states: Vec<f32>,
    pub excluded: Vec<Vec<u32>>,
}

/// Episodes of one split of a sample, in its simulator or (with a world) under the world's
/// true model.
pub struct OwnedEnv {
    pub setup: Setup,
    world: Option<World>,
    split: Split,
    reward: Reward,
    state: Option<State>,
    /// The sessions the episodes started from.
    pub sessions: Vec<usize>,
}

impl OwnedEnv {
    /// Loads the sample, the encoder run and (for the true model) the world; `sim` sets the
    /// simulator, the episodes' start, horizon and exclusions, and the reward.
    pub fn open(
        sample_dir: &Path,
        encoder_dir: &Path,
        world_dir: Option<&Path>,
        split: Split,
        sim: &SimulatorConfig,
    ) -> Result<OwnedEnv, EvalError> {
        sim.validate().map_err(SimError::Config)?;
        let agent = AgentConfig {
            index: crate::songs::index::IndexKind::Exact,
            ..AgentConfig::default()
        };
        let setup = Setup::load(sample_dir, encoder_dir, sim, &agent)?;
        let world = match world_dir {
            None => None,
            Some(dir) => {
                let at = |source| SimError::Env {
                    at: Some(dir.to_path_buf()),
                    source,
                };
                let w = World::load(dir).map_err(at)?;
                w.check(&setup.sample, split).map_err(at)?;
                Some(w)
            }
        };
        Ok(OwnedEnv {
            setup,
            world,
            split,
            reward: sim.reward.reward(),
            state: None,
            sessions: Vec::new(),
        })
    }

    fn sim(&self) -> &Simulator {
        sim_of(&self.setup, self.split)
    }

    /// The simulator's settings (start, horizon, exclusions).
    pub fn config(&self) -> &SimulatorConfig {
        &self.setup.train_sim.cfg
    }

    /// The agents' action space: every track as a point of [−1, 1]^dim, and the nearest ones.
    pub fn space(&self) -> &ActionSpace {
        &self.setup.space
    }

    /// `f` on the environment, continuing the episodes in progress.
    fn with<R>(&mut self, f: impl FnOnce(&mut dyn Environment) -> R) -> Result<R, EnvError> {
        let state = self.state.take();
        let (enc, sample) = (&self.setup.encoder, &self.setup.sample);
        let sim = sim_of(&self.setup, self.split);
        let (out, state) = match &self.world {
            None => {
                let mut env = SimEnv::new(sim, enc, sample).with_reward(self.reward);
                if let Some(State::Sim(e)) = state {
                    env = env.with_episodes(e);
                }
                let out = f(&mut env);
                (out, State::Sim(env.into_episodes()))
            }
            Some(w) => {
                let env = match state {
                    Some(State::World(h)) => w.resume(enc, sample, &sim.cfg, h),
                    _ => w.env(enc, sample, &sim.cfg)?,
                };
                let mut env = env.with_reward(self.reward);
                let out = f(&mut env);
                (out, State::World(env.into_hidden()))
            }
        };
        self.state = Some(state);
        Ok(out)
    }

    /// The sessions that start `n` episodes under `seed` (as `segue eval` draws them).
    pub fn draw_sessions(&self, n: usize, seed: u64) -> Vec<usize> {
        let steps = self.config().start_steps;
        start_sessions(&self.setup.sample, self.split, steps, n, seed)
    }

    /// Starts an episode from each of `sessions`, responses drawn from the streams of `seed`.
    pub fn reset(&mut self, sessions: &[usize], seed: u64) -> Result<Seen, EnvError> {
        let seen = self.with(|env| env.reset(sessions, seed).map(|()| seen(env)))??;
        self.sessions = sessions.to_vec();
        Ok(seen)
    }

    /// An error unless episodes were started and `n` actions answer them.
    fn started(&self, n: usize) -> Result<(), EnvError> {
        if self.state.is_none() || self.sessions.is_empty() || n != self.sessions.len() {
            return Err(EnvError::NotStarted {
                episodes: self.sessions.len(),
                actions: n,
            });
        }
        Ok(())
    }

    /// Plays one track per episode: the steps, each step's score (the reward drawn, or the
    /// true model's exact expectation: what `segue eval` sums), and the episodes after it.
    pub fn step(&mut self, tracks: &[u32]) -> Result<(Vec<Step>, Vec<f64>, Seen), EnvError> {
        self.started(tracks.len())?;
        self.with(|env| {
            let steps = env.step(tracks);
            let scores = steps.iter().map(|s| env.score(s)).collect();
            (steps, scores, seen(env))
        })
    }

    /// `policy`'s tracks for the episodes as they are, its choices drawn from `rng`.
    pub fn act(
        &mut self,
        policy: &mut dyn Policy,
        rng: &mut crate::rng::Rng,
    ) -> Result<Vec<u32>, EnvError> {
        self.started(self.sessions.len())?;
        self.with(|env| policy.act(&env.observe().each(), rng))
    }

    /// With a world: each episode's greedy-oracle and planner expected scores over its
    /// remaining steps.
    pub fn ceilings(&mut self) -> Option<Vec<[f64; 2]>> {
        let w = self.world.as_ref()?;
        let Some(State::World(h)) = self.state.take() else {
            return None;
        };
        let (enc, sample) = (&self.setup.encoder, &self.setup.sample);
        let env = w.resume(enc, sample, &self.sim().cfg, h);
        let out = env.ceilings();
        self.state = Some(State::World(env.into_hidden()));
        Some(out)
    }
}

/// The simulator of `split`.
fn sim_of(setup: &Setup, split: Split) -> &Simulator {
    match split {
        Split::Train => &setup.train_sim,
        Split::Validation => &setup.valid_sim,
        Split::Test => &setup.test_sim,
    }
}

fn seen(env: &mut dyn Environment) -> Seen {
    let o = env.observe();
    Seen {
        states: o.states.to_vec(),
        excluded: o.excluded.to_vec(),
    }
}
