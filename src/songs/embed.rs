//! Song embeddings learned from the training sessions when no track features exist: skip-gram
//! with negative sampling over sessions (item2vec; Barkan & Koenigstein 2016, after Mikolov et
//! al. 2013). Two plays of a session within `window` steps are a positive pair.
//!
//! Responses count: a pair's learning rate is scaled by the product of its two plays' weights,
//! `level_weights` = (skip_1, skip_2, skip_3, not_skipped), by default (0.25, 0.5, 0.75, 1): a
//! track played in full beside another says more about their kinship than one abandoned after a
//! second. Negatives are drawn from the unigram distribution raised to 3/4.
//!
//! Tracks played fewer than `min_count` times in training get no vector of their own: they get
//! the play-weighted centroid of the learned vectors (where a typical play sits), flagged as
//! unknown in the song space.

use serde::{Deserialize, Serialize};

use crate::data::{Sample, Split};
use crate::rng::Rng;

/// Skip-gram settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Dimension of the vectors.
    pub dim: usize,
    /// Plays on each side of a play that form pairs with it.
    pub window: usize,
    /// Negative samples per positive pair.
    pub negatives: usize,
    /// Passes over the training sessions.
    pub epochs: usize,
    /// Starting learning rate (decays linearly to 1/1000 of it).
    pub learning_rate: f64,
    /// Training plays a track needs for a vector of its own.
    pub min_count: u32,
    /// Weight of a play by response: skip_1, skip_2, skip_3, not_skipped.
    pub level_weights: [f64; 4],
    pub seed: u64,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        EmbeddingConfig {
            dim: 32,
            window: 5,
            negatives: 5,
            epochs: 10,
            learning_rate: 0.025,
            min_count: 2,
            level_weights: [0.25, 0.5, 0.75, 1.0],
            seed: 0,
        }
    }
}

/// Learned vectors (unit length) for every track of the sample, and which are its own.
pub struct Embedding {
    pub vectors: Vec<f32>,
    pub known: Vec<bool>,
    pub dim: usize,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Trains on the sample's training sessions.
pub fn train(sample: &Sample, cfg: &EmbeddingConfig) -> Embedding {
    let n = sample.tracks.len();
    let d = cfg.dim.max(1);
    let mut counts = vec![0u32; n];
    let sessions: Vec<Vec<(u32, f32)>> = sample
        .sessions_in(Split::Train)
        .map(|s| {
            sample
                .rows_of(s)
                .iter()
                .map(|r| {
                    counts[r.track as usize] += 1;
                    (
                        r.track,
                        cfg.level_weights[r.flags.response_level() as usize] as f32,
                    )
                })
                .collect()
        })
        .collect();
    let known: Vec<bool> = counts.iter().map(|&c| c >= cfg.min_count.max(1)).collect();
    let noise: Vec<f64> = counts
        .iter()
        .zip(&known)
        .map(|(&c, &k)| if k { (c as f64).powf(0.75) } else { 0.0 })
        .collect();
    let mut cdf = Vec::with_capacity(n);
    let mut acc = 0.0;
    for w in &noise {
        acc += w;
        cdf.push(acc);
    }
    let mut rng = Rng::new(cfg.seed);
    let mut input: Vec<f32> = (0..n * d)
        .map(|_| ((rng.f64() - 0.5) / d as f64) as f32)
        .collect();
    let mut output = vec![0.0f32; n * d];
    let mut grad = vec![0.0f32; d];
    let total_steps = (cfg.epochs.max(1) * sessions.len()).max(1);
    let mut step = 0usize;
    for _ in 0..cfg.epochs.max(1) {
        for s in &sessions {
            let lr0 = cfg.learning_rate * (1.0 - step as f64 / total_steps as f64).max(0.001);
            step += 1;
            for (i, &(center, wc)) in s.iter().enumerate() {
                if !known[center as usize] {
                    continue;
                }
                let lo = i.saturating_sub(cfg.window);
                let hi = (i + cfg.window + 1).min(s.len());
                for (j, &(ctx, wx)) in s.iter().enumerate().take(hi).skip(lo) {
                    if j == i || !known[ctx as usize] || ctx == center {
                        continue;
                    }
                    let lr = (lr0 as f32) * wc * wx;
                    grad.fill(0.0);
                    let ci = center as usize * d;
                    for neg in 0..=cfg.negatives {
                        let (target, label) = if neg == 0 {
                            (ctx as usize, 1.0)
                        } else {
                            let t = rng.pick_cdf(&cdf);
                            if t == ctx as usize {
                                continue;
                            }
                            (t, 0.0)
                        };
                        let ti = target * d;
                        let dot: f32 = (0..d).map(|k| input[ci + k] * output[ti + k]).sum();
                        let g = lr * (label - sigmoid(dot));
                        for k in 0..d {
                            grad[k] += g * output[ti + k];
                            output[ti + k] += g * input[ci + k];
                        }
                    }
                    for k in 0..d {
                        input[ci + k] += grad[k];
                    }
                }
            }
        }
    }
    // Unit length, so that Euclidean nearness ranks like cosine similarity.
    for v in input.chunks_exact_mut(d) {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        v.iter_mut().for_each(|x| *x /= norm);
    }
    // The fallback: the play-weighted centroid of the learned vectors, the point a typical
    // play sits at, whose neighbours lean to frequently played tracks.
    let weight: f64 = counts
        .iter()
        .zip(&known)
        .filter(|(_, k)| **k)
        .map(|(&c, _)| c as f64)
        .sum::<f64>()
        .max(1.0);
    let mut centroid = vec![0.0f32; d];
    for ((v, _), &c) in input
        .chunks_exact(d)
        .zip(&known)
        .zip(&counts)
        .filter(|((_, k), _)| **k)
    {
        for (m, x) in centroid.iter_mut().zip(v) {
            *m += x * (c as f64 / weight) as f32;
        }
    }
    for (v, _) in input.chunks_exact_mut(d).zip(&known).filter(|(_, k)| !**k) {
        v.copy_from_slice(&centroid);
    }
    Embedding {
        vectors: input,
        known,
        dim: d,
    }
}
