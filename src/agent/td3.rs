//! TD3 (Fujimoto et al. 2018): DDPG plus three hooks: twin critics whose smaller target value
//! is the target (clipped double Q-learning), target-policy smoothing, and a delayed actor.

use super::algo::Algorithm;
use super::config::AgentConfig;
use crate::rng::Rng;

pub struct Td3;

impl Algorithm for Td3 {
    fn critics(&self) -> usize {
        2
    }

    /// a' = clip(μ'(s') + clip(ε, −c, c), −1, 1), ε ~ N(0, σ̃²) (`policy_noise`, `noise_clip`):
    /// the target values a small region around the target action, not its point.
    fn target_action(&self, cfg: &AgentConfig, a2: &mut [f32], rng: &mut Rng) {
        let c = cfg.noise_clip;
        let mut eps = vec![0.0f64; a2.len()];
        rng.fill_normal(&mut eps);
        for (a, e) in a2.iter_mut().zip(eps) {
            *a = (*a + (e * cfg.policy_noise).clamp(-c, c) as f32).clamp(-1.0, 1.0);
        }
    }

    fn actor_delay(&self, cfg: &AgentConfig) -> u64 {
        cfg.policy_delay as u64
    }
}
