//! Configuration of the user simulator and its episodes (the `[simulator]` table).

use serde::{Deserialize, Serialize};

use crate::eval::reward::Reward;
use crate::songs::index::IndexKind;

/// What a response is worth.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum RewardKind {
    /// 1 when the track was played in full (`not_skipped`), else 0: a perfect episode scores
    /// the horizon (15).
    NotSkipped,
    /// 1 unless skipped very briefly (`skip_1`).
    NoSkip1,
    /// 1 unless skipped briefly (`skip_2`).
    NoSkip2,
    /// 1 unless skipped before most of it played (`skip_3`).
    NoSkip3,
    /// The response level over 3: 0, 1/3, 2/3, 1.
    Graded,
}

impl RewardKind {
    /// Reward of each response level (skip_1, skip_2, skip_3, not_skipped).
    pub fn values(self) -> [f64; 4] {
        match self {
            RewardKind::NotSkipped => [0.0, 0.0, 0.0, 1.0],
            RewardKind::NoSkip1 => [0.0, 1.0, 1.0, 1.0],
            RewardKind::NoSkip2 => [0.0, 0.0, 1.0, 1.0],
            RewardKind::NoSkip3 => [0.0, 0.0, 0.0, 1.0],
            RewardKind::Graded => [0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0],
        }
    }

    /// The reward every environment pays under this choice.
    pub fn reward(self) -> Reward {
        Reward::new(self.values())
    }
}

/// How the simulator turns the neighbours' responses into the step's response.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Draw the level from the neighbours' distribution with the episode's RNG.
    Stochastic,
    /// No draw: the reward is the expected reward under the distribution, and the history
    /// records the most likely level.
    Expected,
}

/// The space in which the simulator looks for a query's nearest keys.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum KeyMetric {
    /// The encoded state, the track's song vector and the recent part, each scaled (`alpha`,
    /// `recent_weight`).
    Scaled,
    /// The hidden layer of a skip model trained on the training split's transitions: its
    /// inputs are the encoded state, the track's song vector and, for each of the last
    /// `recent` plays, the coordinate-by-coordinate squared differences between the track's
    /// song vector and that play's, its level / 3 and a present flag. Keys that the model
    /// sees alike are near, whatever the raw distances.
    Learned,
}

/// Settings of the memory-based user simulator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Logged (state, action) keys consulted per query.
    pub k: usize,
    /// Weight of the state distance against the action distance (Zhao et al.'s α): the key
    /// distance is α·‖Δs‖² + (1 − α)·‖Δa‖², each part scaled so that random pairs of keys are at
    /// distance 2 on average.
    pub alpha: f64,
    /// The last N plays of the history join each key (0: none): the squared song-space
    /// distance from the track to each of them, the latest first. The encoded state
    /// summarises the history; these say directly how the track follows the last ones (a
    /// listener may tire of what sounds like what they just heard, or want more of it).
    pub recent: usize,
    /// Weight of the recent part of the key distance, scaled like the other two: random pairs
    /// of keys are at 2·recent_weight on average in it.
    pub recent_weight: f64,
    /// The space of the nearest-key search.
    pub metric: KeyMetric,
    /// `metric = "learned"`: hidden units of its skip model.
    pub metric_hidden: usize,
    /// `metric = "learned"`: passes of its skip model's training over the transitions.
    pub metric_epochs: usize,
    /// Neighbours farther than this (in the scaled key distance) do not count; a query with
    /// none inside falls back to the base rate and counts as uncovered.
    pub radius: f64,
    /// Added to each neighbour's distance before inverting it into a weight.
    pub weight_floor: f64,
    /// Pseudo-weight of the base rate mixed into every answer (in units of a neighbour at
    /// distance 0): it keeps a few neighbours from making the answer certain.
    pub prior_weight: f64,
    pub mode: ResponseMode,
    pub reward: RewardKind,
    /// Plays of a real session that start an episode (its starting history).
    pub start_steps: usize,
    /// Recommendations per episode (the study's 15).
    pub horizon: usize,
    /// Episodes per evaluation.
    pub episodes: usize,
    /// Exclude tracks already played in the episode from recommendations.
    pub exclude_played: bool,
    /// The key index.
    pub index: IndexKind,
    pub seed: u64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            k: 30,
            alpha: 0.5,
            recent: 0,
            recent_weight: 1.0,
            metric: KeyMetric::Scaled,
            metric_hidden: 64,
            metric_epochs: 15,
            radius: 1.0,
            weight_floor: 0.05,
            prior_weight: 1.0,
            mode: ResponseMode::Stochastic,
            reward: RewardKind::NotSkipped,
            start_steps: 5,
            horizon: 15,
            episodes: 500,
            exclude_played: true,
            index: IndexKind::Exact,
            seed: 1,
        }
    }
}

impl SimulatorConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.k == 0 || self.horizon == 0 || self.start_steps == 0 || self.episodes == 0 {
            return Err("simulator.k, horizon, start_steps and episodes must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(format!(
                "simulator.alpha must be in [0, 1], got {}",
                self.alpha
            ));
        }
        if !(self.prior_weight.is_finite() && self.prior_weight >= 0.0) {
            return Err(format!(
                "simulator.prior_weight must be ≥ 0, got {}",
                self.prior_weight
            ));
        }
        if self.metric == KeyMetric::Learned && (self.metric_hidden == 0 || self.metric_epochs == 0)
        {
            return Err("simulator.metric_hidden and metric_epochs must be at least 1".into());
        }
        if !(self.recent_weight.is_finite() && self.recent_weight > 0.0) {
            return Err(format!(
                "simulator.recent_weight must be positive, got {}",
                self.recent_weight
            ));
        }
        for (name, v) in [("radius", self.radius), ("weight_floor", self.weight_floor)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("simulator.{name} must be positive, got {v}"));
            }
        }
        Ok(())
    }
}
