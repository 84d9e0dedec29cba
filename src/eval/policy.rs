//! The `Policy` trait that every recommender implements: the baselines, the learned agents and
//! the references are contenders of one evaluator, which never knows which one it runs.

use crate::rng::Rng;

/// What a policy sees at one step of one episode.
pub struct Observation<'a> {
    /// The encoder's latent state of the history, `[latent]`.
    pub state: &'a [f32],
    /// The plays so far, oldest first: (track, response level).
    pub history: &'a [(u32, u8)],
    /// Tracks that may not be recommended (already played in the episode), sorted.
    pub excluded: &'a [u32],
}

/// A recommender: one track per observation. Episodes run side by side, so a policy answers a
/// batch at once (one network pass, one batched index search).
pub trait Policy {
    fn name(&self) -> String;
    fn act(&mut self, obs: &[Observation], rng: &mut Rng) -> Vec<u32>;
}
