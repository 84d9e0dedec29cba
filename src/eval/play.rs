//! The one loop that plays every episode: any [`Policy`] against any [`Environment`].

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::encoder::data::SongInputs;
use crate::rng::Rng;
use crate::stats::mean_ci;

use super::env::{EnvError, Environment};
use super::policy::Policy;

/// Scores of one policy over a set of episodes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Evaluation {
    pub policy: String,
    pub episodes: usize,
    /// Each episode's score: the sum of its steps' [`Environment::score`].
    pub scores: Vec<f64>,
    pub mean: f64,
    /// Half-width of the 95% confidence interval of the mean (normal approximation).
    pub ci95: f64,
    /// Share of recommendations answered not-skipped (level 3).
    pub not_skip_rate: f64,
    /// Share of steps the environment did not cover (the simulator: no logged key within the
    /// radius).
    pub uncovered: f64,
    /// Distinct tracks recommended over all episodes.
    pub distinct_tracks: usize,
    /// Mean pairwise distance (L2, in the encoder's song inputs) between the tracks recommended
    /// within an episode, averaged over episodes.
    pub diversity: f64,
    /// Share of recommendations that repeat a track recommended earlier in the same episode.
    pub repeats: f64,
}

/// The policy's random stream in an evaluation under `seed` ("POL").
pub const POLICY_STREAM: u64 = 0x0050_4f4c;

/// Plays `policy` in `env` from each of `sessions` until the episodes are truncated, all side by
/// side; `seed` draws the responses (the environment's streams) and the policy's own choices.
/// `songs` measure the diversity of what was recommended.
pub fn play(
    env: &mut dyn Environment,
    policy: &mut dyn Policy,
    sessions: &[usize],
    seed: u64,
    songs: &SongInputs,
) -> Result<Evaluation, EnvError> {
    env.reset(sessions, seed)?;
    let mut policy_rng = Rng::stream(seed, &[POLICY_STREAM]);
    let n = sessions.len();
    let mut scores = vec![0.0; n];
    let (mut not_skipped, mut uncovered, mut steps) = (0u64, 0u64, 0u64);
    let mut recommended = HashSet::new();
    let mut per_episode: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut done = n == 0 || env.horizon() == 0;
    while !done {
        let actions = policy.act(&env.observe().each(), &mut policy_rng);
        let played = env.step(&actions);
        for (i, (step, &a)) in played.iter().zip(&actions).enumerate() {
            scores[i] += env.score(step);
            not_skipped += (step.level == 3) as u64;
            uncovered += (!step.covered) as u64;
            steps += 1;
            recommended.insert(a);
            per_episode[i].push(a);
        }
        done = played.iter().all(|s| s.truncated);
    }
    let (diversity, repeats) = diversity(&per_episode, songs);
    let (mean, ci95) = mean_ci(&scores);
    Ok(Evaluation {
        policy: policy.name(),
        episodes: n,
        scores,
        mean,
        ci95,
        not_skip_rate: not_skipped as f64 / steps.max(1) as f64,
        uncovered: uncovered as f64 / steps.max(1) as f64,
        distinct_tracks: recommended.len(),
        diversity,
        repeats,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::data::InputTransform;
    use crate::eval::env::{Observations, Step};
    use crate::eval::episodes::Episodes;
    use crate::eval::policy::Observation;
    use crate::eval::reward::Reward;

    /// Two steps per episode; an even track is heard out, an odd one skipped at once; tracks
    /// from 4 on are not covered. Session `s` starts from the single play (s, heard out).
    struct Tiny {
        eps: Episodes,
        reward: Reward,
    }

    impl Environment for Tiny {
        fn reset(&mut self, sessions: &[usize], seed: u64) -> Result<(), EnvError> {
            let starts = sessions.iter().map(|&s| vec![(s as u32, 3)]).collect();
            self.eps.reset(starts, seed, 1);
            Ok(())
        }
        fn observe(&mut self) -> Observations<'_> {
            self.eps.observe(|h| vec![0.0; h.len()])
        }
        fn step(&mut self, actions: &[u32]) -> Vec<Step> {
            let truncated = self.eps.advance();
            let mut out = Vec::new();
            for (i, &a) in actions.iter().enumerate() {
                let level = if a % 2 == 0 { 3 } else { 0 };
                self.eps.record(i, a, level);
                let reward = self.reward.of(level);
                out.push(Step {
                    level,
                    reward,
                    expected: reward,
                    covered: a < 4,
                    truncated,
                });
            }
            out
        }
        fn horizon(&self) -> usize {
            self.eps.horizon()
        }
    }

    /// Episode `i` plays `script[i][t]` at step `t` (read from its history's length).
    struct Script(Vec<[u32; 2]>);

    impl Policy for Script {
        fn name(&self) -> String {
            "script".into()
        }
        fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
            obs.iter()
                .map(|o| self.0[o.history[0].0 as usize][o.history.len() - 1])
                .collect()
        }
    }

    #[test]
    fn the_loop_scores_a_hand_written_environment() {
        let mut env = Tiny {
            eps: Episodes::empty(true, 10, 2),
            reward: Reward::new([0.0, 0.0, 0.0, 1.0]),
        };
        let mut p = Script(vec![[2, 4], [1, 2], [3, 5]]);
        // Tracks are points on a line: song t is [t].
        let songs = SongInputs {
            dim: 1,
            values: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            transform: InputTransform::Identity,
            catalogue: None,
        };
        let e = play(&mut env, &mut p, &[0, 1, 2], 1, &songs).unwrap();
        // Heard out: 2 + 1 + 0 steps. Mean 1, sample sd 1: 1.96 · 1/√3 = 1.13161.
        assert_eq!(e.scores, [2.0, 1.0, 0.0]);
        assert_eq!(e.mean, 1.0);
        assert!((e.ci95 - 1.131_607_5).abs() < 1e-6, "{}", e.ci95);
        assert_eq!((e.not_skip_rate, e.uncovered), (0.5, 2.0 / 6.0));
        // Tracks 1-5 recommended, none twice; distances within episodes 2, 1, 2.
        assert_eq!((e.distinct_tracks, e.repeats), (5, 0.0));
        assert!((e.diversity - 5.0 / 3.0).abs() < 1e-12, "{}", e.diversity);
        // Played tracks are excluded as they are played.
        assert_eq!(env.observe().excluded[0], [0, 2, 4]);
        // A doubled reward doubles every score; the episodes' draws do not move.
        env.reward = Reward::new([0.0, 0.0, 0.0, 2.0]);
        let twice = play(&mut env, &mut p, &[0, 1, 2], 1, &songs).unwrap();
        assert_eq!(twice.scores, [4.0, 2.0, 0.0]);
        // No episode: nothing played, no score.
        let none = play(&mut env, &mut p, &[], 1, &songs).unwrap();
        assert_eq!((none.episodes, none.distinct_tracks), (0, 0));
        assert!(none.mean.is_nan());
    }
}
