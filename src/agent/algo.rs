//! The actor-critic algorithms as hooks on one update (d3rlpy's `TD3Impl` overriding two
//! methods of `DDPGImpl`): the update in [`nets`](super::nets) is DDPG's, and an algorithm
//! says only where it departs from it. A new algorithm is a file implementing [`Algorithm`],
//! a variant of [`Algo`](super::Algo) that names it, and its line in
//! [`nets::algorithm`](super::nets::algorithm).

use burn::tensor::Tensor;

use super::config::AgentConfig;
use crate::rng::Rng;

/// Where an actor-critic algorithm departs from DDPG (Lillicrap et al. 2016), whose choices the
/// defaults are.
pub trait Algorithm: Sync {
    /// Critics learned side by side; the targets take the smallest of their target copies.
    fn critics(&self) -> usize {
        1
    }

    /// The action the targets evaluate at the next state, from the target actor's `a2`
    /// (`[n, action]`).
    fn target_action(&self, _cfg: &AgentConfig, a2: Tensor<2>, _rng: &mut Rng) -> Tensor<2> {
        a2
    }

    /// Critic updates per actor (and target-network) update.
    fn actor_delay(&self, _cfg: &AgentConfig) -> u64 {
        1
    }
}
