//! The skip classifier behind the one-step greedy baseline: a small network that predicts
//! P(not skipped | state, track) from the training split's logged transitions (not from the
//! simulator), and a policy that recommends the candidate it rates highest.

use burn::tensor::activation::{log_sigmoid, relu, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};

use crate::encoder::data::SongInputs;
use crate::encoder::nn::{Adam, Linear, Params, to_vec};
use crate::rng::Rng;
use crate::songs::index::{self, IndexKind, NearestTracks};

use super::policy::{Observation, Policy, anchor};

/// `[state ‖ song] → hidden (relu) → 1` logistic model.
#[derive(Clone)]
pub struct SkipClassifier {
    params: Params,
    l1: Linear,
    l2: Linear,
    pub state_dim: usize,
    pub action_dim: usize,
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
        let mut params = Params::new(&device);
        let mut rng = Rng::stream(seed, &[0x0043_4c46]); // "CLF"
        let d = state_dim + action_dim;
        let l1 = Linear::new(&mut params, "clf.l1", d, hidden, &mut rng);
        let l2 = Linear::new(&mut params, "clf.l2", hidden, 1, &mut rng);
        let mut clf = SkipClassifier {
            params,
            l1,
            l2,
            state_dim,
            action_dim,
        };
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

    /// P(not skipped) of each (state, action) row pair.
    pub fn predict(&self, states: &[f32], actions: &[f32]) -> Vec<f64> {
        let n = states.len() / self.state_dim;
        let mut out = Vec::with_capacity(n);
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
            let p = sigmoid(self.logits(&self.params.values, x));
            out.extend(to_vec(&p).into_iter().map(|x| x as f64));
        }
        out
    }
}

/// One-step greedy: among candidates (the most played training tracks and the tracks nearest
/// to the last not-skipped one), the one the skip classifier rates most likely to be heard.
pub struct GreedyPolicy {
    pub clf: SkipClassifier,
    /// The most played training tracks, most played first.
    pub popular: Vec<u32>,
    /// Content neighbours added per observation.
    pub neighbours: usize,
    songs: SongInputs,
    index: Box<dyn NearestTracks>,
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
            popular,
            neighbours,
            songs: songs.clone(),
            index: index::build(&IndexKind::Exact, songs.values.clone(), songs.dim),
        }
    }
}

impl Policy for GreedyPolicy {
    fn name(&self) -> String {
        "greedy".into()
    }
    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
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
        let p = self.clf.predict(&states, &actions);
        let mut at = 0;
        cands
            .iter()
            .map(|c| {
                let scores = &p[at..at + c.len()];
                at += c.len();
                let best = (0..c.len())
                    .max_by(|&i, &j| scores[i].total_cmp(&scores[j]).then(j.cmp(&i)))
                    .unwrap_or(0);
                c[best]
            })
            .collect()
    }
}
