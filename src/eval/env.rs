//! The environment seam: batched episodes that any policy plays and any learner trains in.
//!
//! Two implementations exist: the simulator fitted to the logs
//! ([`SimEnv`](crate::simulator::env::SimEnv)) and a synthetic world's true model
//! ([`TrueEnv`](super::world::TrueEnv)). The evaluator ([`play`](super::play::play)) and the
//! training loop only see this trait.
//!
//! An episode starts from the first plays of a logged session and makes `horizon`
//! recommendations. Its end is a **truncation**, not a termination: the user's session would go
//! on, and the step count is not part of the state, so a learner bootstraps from the last state
//! rather than treating it as terminal.

use super::policy::Observation;

/// Why episodes could not start.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EnvError {
    #[error("session {session} of the sample cannot start an episode of {steps} plays")]
    ShortSession { session: usize, steps: usize },
    #[error("track {0} of the sample is not in the world model")]
    UnknownTrack(String),
    #[error("session {0} of the sample is not in the world model")]
    UnknownSession(String),
    #[error("the world could not be loaded: {0}")]
    World(String),
    #[error("{actions} actions for {episodes} episodes (reset first, one track per episode)")]
    NotStarted { episodes: usize, actions: usize },
}

/// One episode's response to one recommendation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The response level drawn (0-3: skip_1, skip_2, skip_3, not skipped): what the history
    /// records.
    pub level: u8,
    /// Its reward (what a learner is paid).
    pub reward: f64,
    /// The reward's expectation under the response distribution the level was drawn from.
    pub expected: f64,
    /// Whether the environment knew this (state, track) pair (the simulator: a logged key
    /// within its radius; the true model always does).
    pub covered: bool,
    /// The episode reached its horizon with this step (a truncation; no episode terminates).
    pub truncated: bool,
}

/// What the policies see of every episode: the encoded histories `[n, latent]`, the plays
/// (track, level), oldest first, and the tracks each may no longer be recommended, sorted.
pub struct Observations<'a> {
    pub states: &'a [f32],
    pub histories: &'a [Vec<(u32, u8)>],
    pub excluded: &'a [Vec<u32>],
}

impl<'a> Observations<'a> {
    /// One [`Observation`] per episode.
    pub fn each(&self) -> Vec<Observation<'a>> {
        let n = self.histories.len();
        let latent = self.states.len() / n.max(1);
        (0..n)
            .map(|i| Observation {
                state: &self.states[i * latent..(i + 1) * latent],
                history: &self.histories[i],
                excluded: &self.excluded[i],
            })
            .collect()
    }
}

/// Batched episodes: `reset` starts one episode per session, `step` plays one track per
/// episode.
pub trait Environment {
    /// Starts an episode from the first plays of each of `sessions` (indices into the sample's
    /// sessions); episode `i` draws its responses from its own stream of `seed`, so scores do
    /// not depend on batching and two policies face the same draws wherever their
    /// recommendations agree.
    fn reset(&mut self, sessions: &[usize], seed: u64) -> Result<(), EnvError>;

    /// The episodes as the policies see them now.
    fn observe(&mut self) -> Observations<'_>;

    /// Plays `actions` (one track id per episode) and advances every history.
    fn step(&mut self, actions: &[u32]) -> Vec<Step>;

    /// Steps per episode.
    fn horizon(&self) -> usize;

    /// What a step adds to an evaluation's score: the reward drawn (the simulator), or its
    /// exact expectation where the environment knows it (the true model).
    fn score(&self, step: &Step) -> f64 {
        step.reward
    }
}
