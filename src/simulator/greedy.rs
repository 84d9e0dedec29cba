//! One-step greedy play: among a few candidates (the most played tracks and the neighbours of
//! the history's anchor), the one a model rates most likely to be heard out: the greedy
//! baseline's skip classifier, the simulator's learned skip model (skip-greedy, the model the
//! agents re-rank with) or a simulator's own expected reward (the simulator oracle).

use std::sync::Arc;

use crate::encoder::data::SongInputs;
use crate::eval::policy::{Observation, Policy};
use crate::rng::Rng;
use crate::songs::index::{self, IndexKind, NearestTracks};

use super::classifier::SkipClassifier;
use super::memory::{Simulator, SkipModel};
use super::policy::anchor;

/// The greedy policies' candidates: the most played training tracks and the tracks nearest to
/// each history's anchor (the last not-skipped one), those the episode allows, once each.
pub struct GreedyCandidates {
    /// The most played training tracks, most played first.
    pub popular: Vec<u32>,
    /// Content neighbours added per observation.
    pub neighbours: usize,
    songs: SongInputs,
    index: Box<dyn NearestTracks>,
}

impl GreedyCandidates {
    pub fn new(popular: Vec<u32>, neighbours: usize, songs: &SongInputs) -> Self {
        GreedyCandidates {
            popular,
            neighbours,
            songs: songs.clone(),
            index: index::build(
                &IndexKind::Exact,
                songs.catalogue_values().to_vec(),
                songs.dim,
            ),
        }
    }

    /// Each observation's candidates, in track order, and the `(state, song)` rows that score
    /// them, `[Σ candidates, state]` and `[Σ candidates, song]`.
    pub fn of(&self, obs: &[Observation]) -> (Vec<Vec<u32>>, Vec<f32>, Vec<f32>) {
        let anchors: Vec<f32> = obs
            .iter()
            .flat_map(|o| self.songs.song(anchor(o.history)).iter().copied())
            .collect();
        let near = self.index.search_batch(&anchors, self.neighbours);
        let mut cands: Vec<Vec<u32>> = Vec::with_capacity(obs.len());
        let (mut states, mut actions) = (Vec::new(), Vec::new());
        for (o, nb) in obs.iter().zip(&near) {
            let mut c: Vec<u32> = self
                .popular
                .iter()
                .copied()
                .chain(nb.iter().map(|n| n.id))
                .filter(|t| o.excluded.binary_search(t).is_err())
                .collect();
            c.sort_unstable();
            c.dedup();
            if c.is_empty() {
                c.push(self.popular[0]);
            }
            for &t in &c {
                states.extend_from_slice(o.state);
                actions.extend_from_slice(self.songs.song(t));
            }
            cands.push(c);
        }
        (cands, states, actions)
    }

    /// The song vectors the candidates are scored with.
    pub fn songs(&self) -> &SongInputs {
        &self.songs
    }
}

/// The best-scored candidate of each list; `scores` run over the lists in order (ties go to the
/// first).
pub fn best_of(cands: &[Vec<u32>], scores: &[f64]) -> Vec<u32> {
    let mut at = 0;
    cands
        .iter()
        .map(|c| {
            let s = &scores[at..at + c.len()];
            at += c.len();
            let best = (0..c.len())
                .max_by(|&i, &j| s[i].total_cmp(&s[j]).then(j.cmp(&i)))
                .unwrap_or(0);
            c[best]
        })
        .collect()
}

/// One-step greedy: among the [`GreedyCandidates`], the one the skip classifier rates most
/// likely to be heard. The candidates may be shared with skip-greedy.
pub struct GreedyPolicy {
    pub clf: SkipClassifier,
    pub candidates: Arc<GreedyCandidates>,
}

impl Policy for GreedyPolicy {
    fn name(&self) -> String {
        "greedy".into()
    }
    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
        let (cands, states, actions) = self.candidates.of(obs);
        best_of(&cands, &self.clf.predict(&states, &actions))
    }
}

/// Skip-greedy: among the [`GreedyCandidates`], the track the simulator's learned skip model
/// rates most likely to be heard out. It is the model the agents re-rank with (it reads the
/// encoded state, the recent plays and the track), played one step at a time by itself: the
/// supervised baseline that reinforcement learning has to beat.
pub struct SkipGreedy {
    pub model: SkipModel,
    pub candidates: Arc<GreedyCandidates>,
}

impl SkipGreedy {
    /// The name of its rows.
    pub const NAME: &str = "skip-greedy";

    /// Each observation's candidates and the skip model's P(not skipped) of each, in order.
    pub fn scores(&self, obs: &[Observation]) -> (Vec<Vec<u32>>, Vec<f64>) {
        let (cands, states, actions) = self.candidates.of(obs);
        let histories: Vec<&[(u32, u8)]> = obs
            .iter()
            .zip(&cands)
            .flat_map(|(o, c)| std::iter::repeat_n(o.history, c.len()))
            .collect();
        let songs = self.candidates.songs();
        let p = self.model.not_skip(songs, &states, &histories, &actions);
        (cands, p)
    }
}

impl Policy for SkipGreedy {
    fn name(&self) -> String {
        Self::NAME.into()
    }
    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
        let (cands, p) = self.scores(obs);
        best_of(&cands, &p)
    }
}

/// A simulator's own one-step choice: among the [`GreedyCandidates`], the track a simulator
/// expects the most reward from. Played in the simulator it consults (the held-out one in
/// `segue eval`), it is not a policy anyone could deploy but a reference: how high one-step
/// play can score there, and so how far apart that simulator can set policies. Consulting the
/// training simulator and played in the held-out one, it is what perfect one-step play of the
/// training simulator earns on sessions it never saw.
pub struct SimulatorOracle<'a> {
    /// The row's name.
    pub name: &'static str,
    pub sim: &'a Simulator,
    pub candidates: &'a GreedyCandidates,
}

impl Policy for SimulatorOracle<'_> {
    fn name(&self) -> String {
        self.name.into()
    }
    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
        let (cands, states, actions) = self.candidates.of(obs);
        let reward = self.sim.cfg.reward.reward();
        let hist: Vec<&[(u32, u8)]> = obs
            .iter()
            .zip(&cands)
            .flat_map(|(o, c)| std::iter::repeat_n(o.history, c.len()))
            .collect();
        let recent = self.sim.recent(&self.candidates.songs, &hist, &actions);
        let expected: Vec<f64> = self
            .sim
            .respond(&states, &actions, &recent)
            .iter()
            .map(|r| reward.expected(&r.probs))
            .collect();
        best_of(&cands, &expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::data::InputTransform;
    use crate::simulator::SimulatorConfig;

    #[test]
    fn the_simulator_oracle_plays_what_its_simulator_rates_best() {
        // Four tracks on a line; the simulator's keys (1-d state 0, the track's song): the
        // listener hears track 2 out and skips the others.
        let songs = SongInputs {
            dim: 1,
            values: vec![0.0, 1.0, 2.0, 3.0],
            transform: InputTransform::Identity,
            catalogue: None,
        };
        let cfg = SimulatorConfig {
            k: 1,
            radius: 0.1,
            prior_weight: 0.0,
            ..Default::default()
        };
        let sim = Simulator::from_keys(&[0.0; 4], 1, &songs.values, 1, &[], vec![0, 0, 3, 0], &cfg);
        let (one, three) = (
            GreedyCandidates::new(vec![0, 3], 1, &songs),
            GreedyCandidates::new(vec![0, 3], 3, &songs),
        );
        let mut oracle = SimulatorOracle {
            name: "simulator oracle",
            sim: &sim,
            candidates: &one,
        };
        let history: &[(u32, u8)] = &[(1, 3), (0, 0)];
        let obs = |excluded| Observation {
            state: &[0.0],
            history,
            excluded,
        };
        let mut rng = Rng::new(1);
        // The anchor is track 1 (the last heard out). With its one nearest track (itself), track
        // 2 is no candidate; the rest tie at 0 and the first in track order goes.
        assert_eq!(oracle.candidates.of(&[obs(&[])]).0, vec![vec![0, 1, 3]]);
        assert_eq!(oracle.act(&[obs(&[])], &mut rng), vec![0]);
        // With its three nearest, track 2 is one, and the one the simulator rates best.
        oracle.candidates = &three;
        assert_eq!(oracle.candidates.of(&[obs(&[])]).0, vec![vec![0, 1, 2, 3]]);
        assert_eq!(oracle.act(&[obs(&[])], &mut rng), vec![2]);
        // Excluded tracks are never candidates.
        assert_eq!(oracle.act(&[obs(&[0, 2])], &mut rng), vec![1]);
    }

    #[test]
    fn skip_greedy_plays_the_skip_models_argmax_over_the_candidates() {
        // Twelve tracks in a 2-d song space and a small skip model that reads a 2-d state and
        // the last 2 plays, trained on random data: its ratings are arbitrary but fixed.
        let mut rng = Rng::new(7);
        let songs = SongInputs {
            dim: 2,
            values: (0..24).map(|_| rng.f64() as f32).collect(),
            transform: InputTransform::Identity,
            catalogue: None,
        };
        let (recent, state_dim, n) = (2, 2, 300);
        let width = state_dim + recent * (songs.dim + 2);
        let states: Vec<f32> = (0..n * width).map(|_| rng.f64() as f32).collect();
        let actions: Vec<f32> = (0..n * songs.dim).map(|_| rng.f64() as f32).collect();
        let y: Vec<bool> = (0..n).map(|_| rng.f64() < 0.4).collect();
        let clf = SkipClassifier::train(&states, width, &actions, songs.dim, &y, 8, 3, 1);
        let model = SkipModel {
            classifier: std::sync::Arc::new(clf),
            recent,
            state_dim,
        };
        let (popular, neighbours) = (vec![5, 1, 9], 3);
        let mut policy = SkipGreedy {
            model: model.clone(),
            candidates: Arc::new(GreedyCandidates::new(popular.clone(), neighbours, &songs)),
        };
        let histories: [&[(u32, u8)]; 3] = [&[(2, 3), (7, 0)], &[(4, 0)], &[(11, 3), (0, 3)]];
        let states = [[0.1f32, 0.9], [0.5, 0.5], [0.8, 0.2]];
        let excluded: [&[u32]; 3] = [&[2, 7], &[1, 4, 5], &[0, 9, 11]];
        let obs: Vec<Observation> = (0..3)
            .map(|i| Observation {
                state: &states[i],
                history: histories[i],
                excluded: excluded[i],
            })
            .collect();
        // The argmax by hand: the popular tracks and the 3 nearest to the anchor (the last
        // heard out), less the excluded ones, each rated alone; ties to the lower track.
        let want: Vec<u32> = obs
            .iter()
            .map(|o| {
                let a = songs.song(anchor(o.history)).to_vec();
                let dist = |t: u32| -> f32 {
                    let s = songs.song(t);
                    (s[0] - a[0]).powi(2) + (s[1] - a[1]).powi(2)
                };
                let mut by_dist: Vec<u32> = (0..12).collect();
                by_dist.sort_by(|&x, &y| dist(x).total_cmp(&dist(y)));
                let mut cands: Vec<u32> = popular
                    .iter()
                    .chain(&by_dist[..neighbours])
                    .copied()
                    .filter(|t| !o.excluded.contains(t))
                    .collect();
                cands.sort_unstable();
                cands.dedup();
                let p = |t: u32| model.not_skip(&songs, o.state, &[o.history], songs.song(t))[0];
                *cands
                    .iter()
                    .rev()
                    .max_by(|&&x, &&y| p(x).total_cmp(&p(y)))
                    .expect("candidates")
            })
            .collect();
        assert_eq!(policy.act(&obs, &mut rng), want);
        assert_eq!(policy.name(), "skip-greedy");
    }
}
