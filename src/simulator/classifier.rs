//! The skip classifier behind the one-step greedy baseline: a small network that predicts
//! P(not skipped | state, track) from the training split's logged transitions (not from the
//! simulator).

use burn::tensor::activation::{log_sigmoid, relu};
use burn::tensor::{Device, Tensor, TensorData};

use crate::nn::infer::{self, Dense};
use crate::nn::store::Named;
use crate::nn::{Adam, Linear, Params};
use crate::rng::Rng;

/// `[state ‖ song] → hidden (relu) → 1` logistic model.
#[derive(Clone, Debug)]
pub struct SkipClassifier {
    params: Params,
    l1: Linear,
    l2: Linear,
    pub state_dim: usize,
    pub action_dim: usize,
    hidden: usize,
    /// The two layers on plain vectors ([`crate::nn::infer`]) that answer: every simulator step
    /// and every re-ranked candidate asks. Remade whenever the parameters change.
    layers: (Dense, Dense),
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
        clf.layers = Self::layers_of(&clf.params, &clf.l1, &clf.l2);
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

    /// Every parameter, for [`store::save`](crate::nn::store::save).
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
        clf.layers = Self::layers_of(&clf.params, &clf.l1, &clf.l2);
        Ok(clf)
    }

    /// A classifier with weights drawn from `rng`.
    fn init(state_dim: usize, action_dim: usize, hidden: usize, rng: &mut Rng) -> SkipClassifier {
        let mut params = Params::new(&Device::flex());
        let l1 = Linear::new(&mut params, "clf.l1", state_dim + action_dim, hidden, rng);
        let l2 = Linear::new(&mut params, "clf.l2", hidden, 1, rng);
        SkipClassifier {
            layers: Self::layers_of(&params, &l1, &l2),
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
            let mut h = self.layers.0.forward(x);
            infer::relu(&mut h);
            h
        })
    }

    /// P(not skipped) of each (state, action) row pair.
    pub fn predict(&self, states: &[f32], actions: &[f32]) -> Vec<f64> {
        self.over_rows(states, actions, |x| {
            let (l1, l2) = &self.layers;
            let mut h = l1.forward(x);
            infer::relu(&mut h);
            let mut p = l2.forward(&h);
            infer::sigmoid(&mut p);
            p.into_iter().map(|x| x as f64).collect()
        })
    }

    fn layers_of(params: &Params, l1: &Linear, l2: &Linear) -> (Dense, Dense) {
        (Dense::of(&params.values, l1), Dense::of(&params.values, l2))
    }

    /// `f` of the input rows (state ‖ action) of the pairs, 4,096 rows at a time, in order.
    fn over_rows<T>(
        &self,
        states: &[f32],
        actions: &[f32],
        f: impl Fn(&[f32]) -> Vec<T>,
    ) -> Vec<T> {
        let (sd, ad) = (self.state_dim, self.action_dim);
        let n = states.len() / sd;
        let mut out = Vec::with_capacity(n);
        let mut x = Vec::with_capacity(4096.min(n) * (sd + ad));
        for start in (0..n).step_by(4096) {
            x.clear();
            for i in start..(start + 4096).min(n) {
                x.extend_from_slice(&states[i * sd..(i + 1) * sd]);
                x.extend_from_slice(&actions[i * ad..(i + 1) * ad]);
            }
            out.extend(f(&x));
        }
        out
    }
}
