//! The skip classifier behind the one-step greedy baseline: a small network that predicts
//! P(not skipped | state, track) from the training split's logged transitions (not from the
//! simulator), and a policy that recommends the candidate it rates highest.

use burn::tensor::activation::{log_sigmoid, relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};

use crate::encoder::data::SongInputs;
use crate::encoder::nn::{Adam, Linear, Params, to_vec};
use crate::encoder::store::Named;
use crate::rng::Rng;
use crate::songs::index::{self, IndexKind, NearestTracks};

use super::episode::expected_reward;
use super::memory::Simulator;
use super::policy::{Observation, Policy, anchor};

/// `[state ‖ song] → hidden (relu) → 1` logistic model.
#[derive(Clone, Debug)]
pub struct SkipClassifier {
    params: Params,
    l1: Linear,
    l2: Linear,
    pub state_dim: usize,
    pub action_dim: usize,
    hidden: usize,
}

impl SkipClassifier {
    /// Trains on `states` `[n, state_dim]`, `actions` `[n, action_dim]` and outcomes `y`
    /// (not skipped) with binary cross-entropy, Adam, `epochs` passes.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        states: &[f32],
        state_dim: usize,
        actions: &[f32],
        action_dim: usize,
        y: &[bool],
        hidden: usize,
        epochs: usize,
        seed: u64,
    ) -> SkipClassifier {
        let device = Device::flex();
        let mut rng = Rng::stream(seed, &[0x0043_4c46]); // "CLF"
        let mut clf = SkipClassifier::init(state_dim, action_dim, hidden, &mut rng);
        let mut adam = Adam::new(&clf.params, 1e-3);
        adam.clip_norm = 1.0;
        let n = y.len();
        let mut order: Vec<usize> = (0..n).collect();
        for _ in 0..epochs {
            for i in (1..n).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for chunk in order.chunks(256) {
                let x = clf.inputs(
                    chunk.iter().map(|&i| {
                        (
                            &states[i * state_dim..(i + 1) * state_dim],
                            &actions[i * action_dim..(i + 1) * action_dim],
                        )
                    }),
                    &device,
                );
                let t: Vec<f32> = chunk.iter().map(|&i| y[i] as u8 as f32).collect();
                let t = Tensor::from_data(TensorData::new(t, [chunk.len(), 1]), &device);
                let leaves = clf.params.leaves();
                let logit = clf.logits(&leaves, x);
                // BCE = −[y·log σ(x) + (1 − y)·log σ(−x)].
                let loss = (log_sigmoid(logit.clone()) * t.clone()
                    + log_sigmoid(-logit) * (t * -1.0 + 1.0))
                    .mean()
                    * -1.0;
                adam.update(&mut clf.params, &leaves, &loss);
            }
        }
        clf
    }

    fn inputs<'a>(
        &self,
        rows: impl Iterator<Item = (&'a [f32], &'a [f32])>,
        device: &Device,
    ) -> Tensor<2> {
        let mut v = Vec::new();
        let mut n = 0;
        for (s, a) in rows {
            v.extend_from_slice(s);
            v.extend_from_slice(a);
            n += 1;
        }
        Tensor::from_data(
            TensorData::new(v, [n, self.state_dim + self.action_dim]),
            device,
        )
    }

    fn logits(&self, p: &[Tensor<2>], x: Tensor<2>) -> Tensor<2> {
        self.l2.forward(p, relu(self.l1.forward(p, x)))
    }

    /// Every parameter, for [`store::save`](crate::encoder::store::save).
    pub fn export(&self) -> Vec<Named> {
        self.params.export()
    }

    /// The classifier of `tensors` (written by [`export`](Self::export)) reading rows of
    /// `state_dim` then `action_dim` columns.
    pub fn import(
        tensors: &[Named],
        state_dim: usize,
        action_dim: usize,
    ) -> Result<SkipClassifier, String> {
        let hidden = tensors
            .iter()
            .find(|t| t.0 == "clf.l1.w")
            .map(|t| t.1[1])
            .ok_or("no clf.l1.w")?;
        let mut clf = SkipClassifier::init(state_dim, action_dim, hidden, &mut Rng::new(0));
        clf.params.import(tensors)?;
        Ok(clf)
    }

    /// A classifier with weights drawn from `rng`.
    fn init(state_dim: usize, action_dim: usize, hidden: usize, rng: &mut Rng) -> SkipClassifier {
        let mut params = Params::new(&Device::flex());
        let l1 = Linear::new(&mut params, "clf.l1", state_dim + action_dim, hidden, rng);
        let l2 = Linear::new(&mut params, "clf.l2", hidden, 1, rng);
        SkipClassifier {
            params,
            l1,
            l2,
            state_dim,
            action_dim,
            hidden,
        }
    }

    /// Units of the hidden layer.
    pub fn hidden_dim(&self) -> usize {
        self.hidden
    }

    /// The hidden layer's activations of each (state, action) row pair, `[n, hidden]`.
    pub fn hidden(&self, states: &[f32], actions: &[f32]) -> Vec<f32> {
        self.over_rows(states, actions, |x| {
            to_vec(&relu(self.l1.forward(&self.params.values, x)))
        })
    }

    /// P(not skipped) of each (state, action) row pair.
    pub fn predict(&self, states: &[f32], actions: &[f32]) -> Vec<f64> {
        self.over_rows(states, actions, |x| {
            let p = sigmoid(self.logits(&self.params.values, x));
            to_vec(&p).into_iter().map(|x| x as f64).collect()
        })
    }

    /// `f` of the input rows of the (state, action) pairs, 4,096 rows at a time, in order.
    fn over_rows<T>(
        &self,
        states: &[f32],
        actions: &[f32],
        f: impl Fn(Tensor<2>) -> Vec<T>,
    ) -> Vec<T> {
        let n = states.len() / self.state_dim;
        let mut out = Vec::new();
        for start in (0..n).step_by(4096) {
            let end = (start + 4096).min(n);
            let x = self.inputs(
                (start..end).map(|i| {
                    (
                        &states[i * self.state_dim..(i + 1) * self.state_dim],
                        &actions[i * self.action_dim..(i + 1) * self.action_dim],
                    )
                }),
                &self.params.device,
            );
            out.extend(f(x));
        }
        out
    }
}

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
            index: index::build(&IndexKind::Exact, songs.values.clone(), songs.dim),
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
/// likely to be heard.
pub struct GreedyPolicy {
    pub clf: SkipClassifier,
    pub candidates: GreedyCandidates,
}

impl GreedyPolicy {
    pub fn new(
        clf: SkipClassifier,
        popular: Vec<u32>,
        neighbours: usize,
        songs: &SongInputs,
    ) -> Self {
        GreedyPolicy {
            clf,
            candidates: GreedyCandidates::new(popular, neighbours, songs),
        }
    }
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
        let rewards = self.sim.cfg.reward.values();
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
            .map(|r| expected_reward(&r.probs, &rewards))
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
}
