//! The simulator as an [`Environment`]: each recommendation answered by the logged (state,
//! action) pairs nearest to it.

use crate::data::Sample;
use crate::encoder::Encoder;
use crate::eval::env::{EnvError, Environment, Observations, Step};
use crate::eval::episodes::{Episodes, first_plays};
use crate::eval::reward::Reward;

use super::config::ResponseMode;
use super::memory::Simulator;

/// The response streams of the simulator's episodes ("EP").
const RESPONSE_STREAM: u64 = 0x4550;

/// Episodes in `sim`, starting from sessions of `sample`, the histories encoded by `encoder`.
pub struct SimEnv<'a> {
    sim: &'a Simulator,
    encoder: &'a Encoder,
    sample: &'a Sample,
    reward: Reward,
    eps: Episodes,
}

impl<'a> SimEnv<'a> {
    /// The environment with the simulator's own reward (`[simulator] reward`).
    pub fn new(sim: &'a Simulator, encoder: &'a Encoder, sample: &'a Sample) -> SimEnv<'a> {
        let cfg = &sim.cfg;
        SimEnv {
            sim,
            encoder,
            sample,
            reward: cfg.reward.reward(),
            eps: Episodes::empty(cfg.exclude_played, encoder.model.steps, cfg.horizon),
        }
    }

    /// The same environment paying `reward` instead.
    pub fn with_reward(mut self, reward: Reward) -> SimEnv<'a> {
        self.reward = reward;
        self
    }

    /// The same environment continuing the episodes of `eps` (taken from another with
    /// [`SimEnv::into_episodes`]): a caller that cannot hold the borrows between steps keeps
    /// only the episodes.
    pub fn with_episodes(mut self, eps: Episodes) -> SimEnv<'a> {
        self.eps = eps;
        self
    }

    /// The episodes in progress.
    pub fn into_episodes(self) -> Episodes {
        self.eps
    }
}

impl Environment for SimEnv<'_> {
    fn reset(&mut self, sessions: &[usize], seed: u64) -> Result<(), EnvError> {
        let steps = self.sim.cfg.start_steps;
        if let Some(&i) = sessions.iter().find(|&&i| {
            self.sample
                .sessions
                .get(i)
                .is_none_or(|s| (s.len as usize) < steps)
        }) {
            return Err(EnvError::ShortSession { session: i, steps });
        }
        let starts = sessions
            .iter()
            .map(|&i| first_plays(self.sample, i, steps))
            .collect();
        self.eps.reset(starts, seed, RESPONSE_STREAM);
        Ok(())
    }

    fn observe(&mut self) -> Observations<'_> {
        let enc = self.encoder;
        self.eps.observe(|h| enc.encode(h))
    }

    /// Draws (or, with `mode = "expected"`, takes the most likely level and pays the expected
    /// reward of) each response from the simulator's level probabilities.
    fn step(&mut self, actions: &[u32]) -> Vec<Step> {
        let (sim, songs) = (self.sim, &self.encoder.songs);
        let action_vecs: Vec<f32> = actions
            .iter()
            .flat_map(|&t| songs.song(t).iter().copied())
            .collect();
        let responses = {
            let obs = self.observe();
            let hist: Vec<&[(u32, u8)]> = obs.histories.iter().map(Vec::as_slice).collect();
            let recent = sim.recent(songs, &hist, &action_vecs);
            sim.respond(obs.states, &action_vecs, &recent)
        };
        let truncated = self.eps.advance();
        let mut out = Vec::with_capacity(actions.len());
        for (i, r) in responses.iter().enumerate() {
            let expected = self.reward.expected(&r.probs);
            let (level, reward) = match sim.cfg.mode {
                ResponseMode::Stochastic => {
                    let l = self.eps.rng(i).pick(&r.probs) as u8;
                    (l, self.reward.of(l))
                }
                ResponseMode::Expected => {
                    let l = (0..4)
                        .max_by(|&a, &b| r.probs[a].total_cmp(&r.probs[b]))
                        .unwrap_or(0);
                    (l as u8, expected)
                }
            };
            self.eps.record(i, actions[i], level);
            out.push(Step {
                level,
                reward,
                expected,
                covered: r.covered,
                truncated,
            });
        }
        out
    }

    fn horizon(&self) -> usize {
        self.eps.horizon()
    }
}
