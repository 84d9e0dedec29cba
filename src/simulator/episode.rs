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
use crate::encoder::data::SongInputs;
use crate::rng::Rng;

use super::config::ResponseMode;
use super::memory::Simulator;
use super::policy::{Observation, Policy};

/// The sessions that start episodes: `n` sessions of `split` with at least `steps` plays (their
/// indices in `sample.sessions`), drawn with replacement under `seed`.
pub fn start_sessions(
    sample: &Sample,
    split: Split,
    steps: usize,
    n: usize,
    seed: u64,
) -> Vec<usize> {
    let pool: Vec<usize> = sample
        .sessions
        .iter()
        .enumerate()
        .filter(|(_, s)| s.split == split && s.len as usize >= steps)
        .map(|(i, _)| i)
        .collect();
    if pool.is_empty() {
        return Vec::new();
    }
    let mut rng = Rng::stream(seed, &[0x0053_5441_5254]); // "START"
    (0..n)
        .map(|_| pool[rng.below(pool.len() as u64) as usize])
        .collect()
}

/// The starting histories of episodes: the first `steps` plays of the sessions
/// [`start_sessions`] draws.
pub fn starts(
    sample: &Sample,
    split: Split,
    steps: usize,
    n: usize,
    seed: u64,
) -> Vec<Vec<(u32, u8)>> {
    start_sessions(sample, split, steps, n, seed)
        .into_iter()
        .map(|i| {
            sample.rows_of(&sample.sessions[i])[..steps]
                .iter()
                .map(|r| (r.track, r.flags.response_level()))
                .collect()
        })
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
    /// Mean pairwise distance (L2, in the encoder's song inputs) between the tracks recommended
    /// within an episode, averaged over episodes.
    pub diversity: f64,
    /// Share of recommendations that repeat a track recommended earlier in the same episode.
    pub repeats: f64,
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

/// Each history's tracks, sorted and deduplicated (empty lists when played tracks may be
/// recommended again).
pub fn excluded_tracks(histories: &[Vec<(u32, u8)>], exclude_played: bool) -> Vec<Vec<u32>> {
    histories
        .iter()
        .map(|h| {
            let mut e: Vec<u32> = if exclude_played {
                h.iter().map(|x| x.0).collect()
            } else {
                Vec::new()
            };
            e.sort_unstable();
            e.dedup();
            e
        })
        .collect()
}

/// The response of one simulated step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub reward: f64,
    /// The reward's expectation under the response distribution the level was drawn from.
    pub expected: f64,
    pub level: u8,
    pub covered: bool,
}

/// Episodes running side by side in a simulator: each one's history (the last `keep` plays),
/// the tracks it may no longer be recommended, its response stream and its score so far.
pub struct Episodes {
    pub histories: Vec<Vec<(u32, u8)>>,
    pub excluded: Vec<Vec<u32>>,
    pub scores: Vec<f64>,
    rngs: Vec<Rng>,
    keep: usize,
    exclude_played: bool,
}

impl Episodes {
    /// Episodes from `starts`; episode `i` draws its responses from stream `[0x4550, i]` of
    /// `seed`, so scores do not depend on batching and two policies face the same draws
    /// wherever their recommendations agree.
    pub fn new(starts: &[Vec<(u32, u8)>], sim: &Simulator, keep: usize, seed: u64) -> Episodes {
        Episodes::with(starts, sim.cfg.exclude_played, keep, seed, 0x4550)
    }

    /// [`Episodes::new`] with the simulator's setting `exclude_played` given, episode `i`
    /// drawing from stream `[stream, i]` of `seed`.
    pub fn with(
        starts: &[Vec<(u32, u8)>],
        exclude_played: bool,
        keep: usize,
        seed: u64,
        stream: u64,
    ) -> Episodes {
        let excluded = excluded_tracks(starts, exclude_played);
        Episodes {
            histories: starts.to_vec(),
            excluded,
            scores: vec![0.0; starts.len()],
            rngs: (0..starts.len())
                .map(|i| Rng::stream(seed, &[stream, i as u64]))
                .collect(),
            keep,
            exclude_played,
        }
    }

    pub fn len(&self) -> usize {
        self.histories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histories.is_empty()
    }

    /// What the policy sees, given the encoded `states` `[n, latent]` of the histories.
    pub fn observations<'a>(&'a self, states: &'a [f32]) -> Vec<Observation<'a>> {
        let latent = states.len() / self.len().max(1);
        (0..self.len())
            .map(|i| Observation {
                state: &states[i * latent..(i + 1) * latent],
                history: &self.histories[i],
                excluded: &self.excluded[i],
            })
            .collect()
    }

    /// Episode `i` played `track` and the user answered `level`, worth `reward`: adds the
    /// reward and advances the history and the exclusions.
    pub fn record(&mut self, i: usize, track: u32, level: u8, reward: f64) {
        self.scores[i] += reward;
        let h = &mut self.histories[i];
        h.push((track, level));
        let extra = h.len().saturating_sub(self.keep);
        h.drain(..extra);
        if self.exclude_played
            && let Err(pos) = self.excluded[i].binary_search(&track)
        {
            self.excluded[i].insert(pos, track);
        }
    }

    /// The next uniform draw in [0, 1) of episode `i`'s response stream.
    pub fn uniform(&mut self, i: usize) -> f64 {
        self.rngs[i].f64()
    }

    /// Plays `actions` (one track per episode) in `sim` from the encoded `states`: draws (or
    /// takes the expectation of) each response, adds the reward, and advances the history.
    pub fn step(
        &mut self,
        sim: &Simulator,
        songs: &SongInputs,
        states: &[f32],
        actions: &[u32],
    ) -> Vec<Step> {
        let rewards = sim.cfg.reward.values();
        let action_vecs: Vec<f32> = actions
            .iter()
            .flat_map(|&t| songs.song(t).iter().copied())
            .collect();
        let hist: Vec<&[(u32, u8)]> = self.histories.iter().map(Vec::as_slice).collect();
        let recent = sim.recent(songs, &hist, &action_vecs);
        let responses = sim.respond(states, &action_vecs, &recent);
        let mut out = Vec::with_capacity(actions.len());
        for (i, r) in responses.iter().enumerate() {
            let expected = expected_reward(&r.probs, &rewards);
            let (level, reward) = match sim.cfg.mode {
                ResponseMode::Stochastic => {
                    let l = self.rngs[i].pick(&r.probs);
                    (l as u8, rewards[l])
                }
                ResponseMode::Expected => {
                    let l = (0..4)
                        .max_by(|&a, &b| r.probs[a].total_cmp(&r.probs[b]))
                        .unwrap_or(0);
                    (l as u8, expected)
                }
            };
            self.record(i, actions[i], level, reward);
            out.push(Step {
                reward,
                expected,
                level,
                covered: r.covered,
            });
        }
        out
    }
}

/// The reward expected from a response with level probabilities `probs` (skip_1, skip_2,
/// skip_3, not skipped) when each level is worth `rewards`.
pub fn expected_reward(probs: &[f64; 4], rewards: &[f64; 4]) -> f64 {
    (0..4).map(|j| probs[j] * rewards[j]).sum()
}

/// Runs `policy` from every starting history side by side, `horizon` steps each (see
/// [`Episodes::new`] for the response streams).
pub fn evaluate(
    sim: &Simulator,
    encoder: &Encoder,
    policy: &mut dyn Policy,
    starts: &[Vec<(u32, u8)>],
    seed: u64,
) -> Evaluation {
    let mut eps = Episodes::new(starts, sim, encoder.model.steps, seed);
    let mut policy_rng = Rng::stream(seed, &[0x0050_4f4c]);
    let (mut not_skipped, mut uncovered, mut steps) = (0u64, 0u64, 0u64);
    let mut recommended = std::collections::HashSet::new();
    let mut per_episode: Vec<Vec<u32>> = vec![Vec::new(); starts.len()];
    for _ in 0..sim.cfg.horizon {
        let states = encoder.encode(&eps.histories);
        let actions = policy.act(&eps.observations(&states), &mut policy_rng);
        for (step, &a) in eps
            .step(sim, &encoder.songs, &states, &actions)
            .iter()
            .zip(&actions)
        {
            not_skipped += (step.level == 3) as u64;
            uncovered += (!step.covered) as u64;
            steps += 1;
            recommended.insert(a);
        }
        for (list, &a) in per_episode.iter_mut().zip(&actions) {
            list.push(a);
        }
    }
    let (diversity, repeats) = diversity(&per_episode, &encoder.songs);
    let scores = eps.scores;
    let (mean, ci95) = mean_ci(&scores);
    Evaluation {
        policy: policy.name(),
        episodes: starts.len(),
        scores,
        mean,
        ci95,
        not_skip_rate: not_skipped as f64 / steps.max(1) as f64,
        uncovered: uncovered as f64 / steps.max(1) as f64,
        distinct_tracks: recommended.len(),
        diversity,
        repeats,
    }
}

/// Mean pairwise song distance within each list (averaged over lists) and the share of
/// entries repeating an earlier entry of their list.
pub fn diversity(lists: &[Vec<u32>], songs: &SongInputs) -> (f64, f64) {
    let (mut div, mut n_lists, mut repeats, mut total) = (0.0, 0usize, 0usize, 0usize);
    for l in lists {
        total += l.len();
        repeats += (0..l.len()).filter(|&i| l[..i].contains(&l[i])).count();
        if l.len() < 2 {
            continue;
        }
        let (mut sum, mut pairs) = (0.0, 0usize);
        for i in 0..l.len() {
            for j in i + 1..l.len() {
                let d: f64 = songs
                    .song(l[i])
                    .iter()
                    .zip(songs.song(l[j]))
                    .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
                    .sum();
                sum += d.sqrt();
                pairs += 1;
            }
        }
        div += sum / pairs as f64;
        n_lists += 1;
    }
    (
        div / n_lists.max(1) as f64,
        repeats as f64 / total.max(1) as f64,
    )
}
