//! The actor-critic algorithms as hooks on one update (d3rlpy's `TD3Impl` overriding two
//! methods of `DDPGImpl`): the update in [`nets`](super::nets) is DDPG's, and an algorithm
//! says only where it departs from it. A new algorithm is a file implementing [`Algorithm`],
//! a variant of [`Algo`](super::Algo) that names it, and its line in
//! [`nets::algorithm`](super::nets::algorithm).

use super::config::AgentConfig;
use crate::rng::Rng;

/// Where an actor-critic algorithm departs from DDPG (Lillicrap et al. 2016), whose choices the
/// defaults are.
pub trait Algorithm: Sync {
    /// Critics learned side by side; the targets take the smallest of their target copies.
    fn critics(&self) -> usize {
        1
    }

    /// Turns the target actor's actions `a2` (`[n, action]`, row-major) into the actions the
    /// targets evaluate at the next states.
    fn target_action(&self, _cfg: &AgentConfig, _a2: &mut [f32], _rng: &mut Rng) {}

    /// Critic updates per actor (and target-network) update.
    fn actor_delay(&self, _cfg: &AgentConfig) -> u64 {
        1
    }
}
