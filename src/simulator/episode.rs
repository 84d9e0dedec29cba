//! Episodes in the simulator and the evaluator that runs any [`Policy`] through them.
//!
//! An episode starts from the first `start_steps` plays of a real session of the simulator's
//! split, then makes `horizon` recommendations; the history advances with each recommended
//! track and its simulated response. The end after `horizon` steps is a **truncation**, not a
//! termination: the user's session would go on, and the step count is not part of the state, so
//! a learner must bootstrap from the last state rather than treat it as terminal.

use serde::{Deserialize, Serialize};

use crate::data::{Sample, Split};
use crate::encoder::Encoder;
use crate::rng::Rng;

use super::config::ResponseMode;
use super::memory::Simulator;
use super::policy::{Observation, Policy};

/// The starting histories of episodes: the first `steps` plays of `n` sessions of `split`
/// (with at least `steps` plays), drawn with replacement under `seed`.
pub fn starts(
    sample: &Sample,
    split: Split,
    steps: usize,
    n: usize,
    seed: u64,
) -> Vec<Vec<(u32, u8)>> {
    let pool: Vec<Vec<(u32, u8)>> = sample
        .sessions_in(split)
        .map(|s| sample.rows_of(s))
        .filter(|rows| rows.len() >= steps)
        .map(|rows| {
            rows[..steps]
                .iter()
                .map(|r| (r.track, r.flags.response_level()))
                .collect()
        })
        .collect();
    if pool.is_empty() {
        return Vec::new();
    }
    let mut rng = Rng::stream(seed, &[0x0053_5441_5254]); // "START"
    (0..n)
        .map(|_| pool[rng.below(pool.len() as u64) as usize].clone())
        .collect()
}

/// Scores of one policy over a set of episodes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Evaluation {
    pub policy: String,
    pub episodes: usize,
    /// Sum of rewards of each episode.
    pub scores: Vec<f64>,
    pub mean: f64,
    /// Half-width of the 95% confidence interval of the mean (normal approximation).
    pub ci95: f64,
    /// Share of recommendations answered not-skipped (level 3).
    pub not_skip_rate: f64,
    /// Share of steps where no logged key was within the radius.
    pub uncovered: f64,
    /// Distinct tracks recommended over all episodes.
    pub distinct_tracks: usize,
}

/// Mean and 95% half-width of `x`.
pub fn mean_ci(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if n == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let m = x.iter().sum::<f64>() / n;
    if n < 2.0 {
        return (m, f64::NAN);
    }
    let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, 1.96 * (var / n).sqrt())
}

/// Runs `policy` from every starting history side by side, `horizon` steps each. Episode `i`
/// draws its responses from its own stream of `seed`, so scores do not depend on batching and
/// two policies face the same draws wherever their recommendations agree.
pub fn evaluate(
    sim: &Simulator,
    encoder: &Encoder,
    policy: &mut dyn Policy,
    starts: &[Vec<(u32, u8)>],
    seed: u64,
) -> Evaluation {
    let cfg = &sim.cfg;
    let rewards = cfg.reward.values();
    let n = starts.len();
    let mut histories: Vec<Vec<(u32, u8)>> = starts.to_vec();
    let mut excluded: Vec<Vec<u32>> = histories
        .iter()
        .map(|h| {
            let mut e: Vec<u32> = if cfg.exclude_played {
                h.iter().map(|x| x.0).collect()
            } else {
                Vec::new()
            };
            e.sort_unstable();
            e.dedup();
            e
        })
        .collect();
    let mut rngs: Vec<Rng> = (0..n)
        .map(|i| Rng::stream(seed, &[0x4550, i as u64]))
        .collect();
    let mut policy_rng = Rng::stream(seed, &[0x0050_4f4c]);
    let mut scores = vec![0.0; n];
    let (mut not_skipped, mut uncovered, mut steps) = (0u64, 0u64, 0u64);
    let mut recommended = std::collections::HashSet::new();
    let latent = encoder.model.latent;
    for _ in 0..cfg.horizon {
        let states = encoder.encode(&histories);
        let obs: Vec<Observation> = (0..n)
            .map(|i| Observation {
                state: &states[i * latent..(i + 1) * latent],
                history: &histories[i],
                excluded: &excluded[i],
            })
            .collect();
        let actions = policy.act(&obs, &mut policy_rng);
        drop(obs);
        let action_vecs: Vec<f32> = actions
            .iter()
            .flat_map(|&t| encoder.songs.song(t).iter().copied())
            .collect();
        let responses = sim.respond(&states, &action_vecs);
        for i in 0..n {
            let r = &responses[i];
            let (level, reward) = match cfg.mode {
                ResponseMode::Stochastic => {
                    let l = rngs[i].pick(&r.probs);
                    (l as u8, rewards[l])
                }
                ResponseMode::Expected => {
                    let l = (0..4)
                        .max_by(|&a, &b| r.probs[a].total_cmp(&r.probs[b]))
                        .unwrap_or(0);
                    (l as u8, (0..4).map(|j| r.probs[j] * rewards[j]).sum())
                }
            };
            scores[i] += reward;
            not_skipped += (level == 3) as u64;
            uncovered += (!r.covered) as u64;
            steps += 1;
            recommended.insert(actions[i]);
            histories[i].push((actions[i], level));
            let keep = encoder.model.steps;
            let extra = histories[i].len().saturating_sub(keep);
            histories[i].drain(..extra);
            if cfg.exclude_played
                && let Err(pos) = excluded[i].binary_search(&actions[i])
            {
                excluded[i].insert(pos, actions[i]);
            }
        }
    }
    let (mean, ci95) = mean_ci(&scores);
    Evaluation {
        policy: policy.name(),
        episodes: n,
        scores,
        mean,
        ci95,
        not_skip_rate: not_skipped as f64 / steps.max(1) as f64,
        uncovered: uncovered as f64 / steps.max(1) as f64,
        distinct_tracks: recommended.len(),
    }
}
