//! The two history autoencoders of the reference study.
//!
//! Structure A: an LSTM reads (song ‖ one-hot response) at each step; its final state, through a
//! dense layer and tanh, is the latent state `z`. Structure B: a dense song autoencoder is
//! pretrained on song vectors alone; the LSTM reads the compressed songs, and the responses join
//! its final state (concatenated, flattened over the steps) before the dense layer that makes
//! `z`. Both decode with a repeat-vector LSTM (`z` at every step) into each step's song and
//! response logits; B's song head outputs a compressed song that the pretrained song decoder
//! expands. The loss is the song MSE over real steps plus `response_weight` × the response
//! cross-entropy.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, relu, sigmoid, softmax};

use super::config::{Decoder, EncoderConfig, Structure};
use super::data::{Batch, LEVELS};
use super::infer::Inference;
use crate::nn::infer::{Dense, LstmInfer};
use crate::nn::{Linear, Lstm, Params, tanh, to_vec};
use crate::rng::Rng;

/// Structure B's pretrained song layers: `dim → hidden → code` (sigmoid) and back.
#[derive(Clone, Copy, Debug)]
pub struct SongAutoencoder {
    pub(super) enc1: Linear,
    pub(super) enc2: Linear,
    pub(super) dec1: Linear,
    pub(super) dec2: Linear,
}

/// Prefix of the song autoencoder's parameter names (frozen as a group).
pub const SONG_PREFIX: &str = "song.";

impl SongAutoencoder {
    fn new(p: &mut Params, dim: usize, hidden: usize, code: usize, rng: &mut Rng) -> Self {
        SongAutoencoder {
            enc1: Linear::new(p, "song.enc1", dim, hidden, rng),
            enc2: Linear::new(p, "song.enc2", hidden, code, rng),
            dec1: Linear::new(p, "song.dec1", code, hidden, rng),
            dec2: Linear::new(p, "song.dec2", hidden, dim, rng),
        }
    }

    /// `[n, dim]` → `[n, code]`, in (0, 1).
    pub fn encode(&self, p: &[Tensor<2>], x: Tensor<2>) -> Tensor<2> {
        sigmoid(self.enc2.forward(p, relu(self.enc1.forward(p, x))))
    }

    /// `[n, code]` → `[n, dim]`.
    pub fn decode(&self, p: &[Tensor<2>], c: Tensor<2>) -> Tensor<2> {
        self.dec2.forward(p, relu(self.dec1.forward(p, c)))
    }

    /// Mean squared reconstruction error of `x` `[n, dim]`, each feature's error weighted by
    /// `scale` `[1, dim]` (ones: the plain MSE).
    pub fn loss(&self, p: &[Tensor<2>], x: Tensor<2>, scale: &Tensor<2>) -> Tensor<1> {
        let r = self.decode(p, self.encode(p, x.clone()));
        ((r - x).square() * scale.clone()).mean()
    }
}

/// A history autoencoder of either structure.
#[derive(Clone, Debug)]
pub struct HistoryAutoencoder {
    pub structure: Structure,
    pub steps: usize,
    pub dim: usize,
    pub latent: usize,
    pub song: Option<SongAutoencoder>,
    pub(super) enc: Lstm,
    pub(super) to_latent: Linear,
    pub(super) dec: DecoderNet,
    pub(super) out_song: Linear,
    pub(super) out_response: Linear,
}

/// The decoder body: per-step features `[steps * batch, hidden]` from `z`.
#[derive(Clone, Copy, Debug)]
pub(super) enum DecoderNet {
    Lstm(Lstm),
    /// `z → relu(hidden) → steps × hidden`: one dense layer makes every step's features.
    Dense(Linear, Linear),
}

/// Reconstructions of a batch, time-major.
pub struct Output {
    /// `[steps * batch, dim]`.
    pub song: Tensor<2>,
    /// `[steps * batch, LEVELS]`.
    pub logits: Tensor<2>,
}

impl HistoryAutoencoder {
    /// Creates the model and its parameters (drawn from `cfg.seed`).
    pub fn new(cfg: &EncoderConfig, dim: usize, p: &mut Params) -> HistoryAutoencoder {
        let mut rng = Rng::stream(cfg.seed, &[0x5745_4947_4854]); // "WEIGHT"
        let (h, z, l) = (cfg.hidden, cfg.latent, cfg.history);
        let (song, enc_in, latent_in, song_out) = match cfg.structure {
            Structure::A => (None, dim + LEVELS, h, dim),
            Structure::B => (
                Some(SongAutoencoder::new(
                    p,
                    dim,
                    cfg.song_hidden,
                    cfg.song_code,
                    &mut rng,
                )),
                cfg.song_code,
                h + l * LEVELS,
                cfg.song_code,
            ),
        };
        HistoryAutoencoder {
            structure: cfg.structure,
            steps: l,
            dim,
            latent: z,
            song,
            enc: Lstm::new(p, "enc.lstm", enc_in, h, &mut rng),
            to_latent: Linear::new(p, "enc.latent", latent_in, z, &mut rng),
            dec: match cfg.decoder {
                Decoder::Lstm => DecoderNet::Lstm(Lstm::new(p, "dec.lstm", z, h, &mut rng)),
                Decoder::Dense => DecoderNet::Dense(
                    Linear::new(p, "dec.dense1", z, h, &mut rng),
                    Linear::new(p, "dec.dense2", h, l * h, &mut rng),
                ),
            },
            out_song: Linear::new(p, "dec.song", h, song_out, &mut rng),
            out_response: Linear::new(p, "dec.response", h, LEVELS, &mut rng),
        }
    }

    /// The latent state of each window: `[batch, latent]`, in (−1, 1).
    pub fn encode(&self, p: &[Tensor<2>], b: &Batch) -> Tensor<2> {
        match self.structure {
            Structure::A => {
                let x = Tensor::cat(vec![b.song.clone(), b.onehot.clone()], 1); // [L*B, d+4]
                let (_, h) = self.enc.forward(p, x, b.size, Some(&b.step_mask));
                tanh(self.to_latent.forward(p, h))
            }
            Structure::B => {
                let song = self.song.as_ref().expect("structure B has song layers");
                let codes = song.encode(p, b.song.clone()); // [L*B, code]
                let (_, h) = self.enc.forward(p, codes, b.size, Some(&b.step_mask));
                // Responses join after the recurrent part: [B, L*4], zeros on padding.
                let mut parts = vec![h];
                parts.extend((0..b.steps).map(|t| b.onehot.clone().narrow(0, t * b.size, b.size)));
                tanh(self.to_latent.forward(p, Tensor::cat(parts, 1)))
            }
        }
    }

    /// The encoder half with the weights of `p`, for inference.
    pub fn inference(&self, p: &[Tensor<2>]) -> Inference {
        Inference {
            structure: self.structure,
            steps: self.steps,
            latent: self.latent,
            song: self
                .song
                .as_ref()
                .map(|s| (Dense::of(p, &s.enc1), Dense::of(p, &s.enc2))),
            lstm: LstmInfer::of(p, &self.enc),
            to_latent: Dense::of(p, &self.to_latent),
        }
    }

    /// Reconstructs every step of the windows from their latent states.
    pub fn forward(&self, p: &[Tensor<2>], b: &Batch) -> Output {
        let z = self.encode(p, b);
        let h = match &self.dec {
            DecoderNet::Lstm(l) => l.forward_repeated(p, z, b.steps), // [L*B, H]
            DecoderNet::Dense(d1, d2) => {
                let y = relu(d2.forward(p, relu(d1.forward(p, z)))); // [B, L*H]
                let hd = y.dims()[1] / b.steps;
                // Batch-major columns to time-major rows: step t is columns t*H..(t+1)*H.
                Tensor::cat(
                    (0..b.steps)
                        .map(|t| y.clone().narrow(1, t * hd, hd))
                        .collect(),
                    0,
                )
            }
        };
        let song = match &self.song {
            None => self.out_song.forward(p, h.clone()),
            Some(s) => s.decode(p, sigmoid(self.out_song.forward(p, h.clone()))),
        };
        Output {
            song,
            logits: self.out_response.forward(p, h),
        }
    }

    /// The training loss of a batch: song MSE over real steps, each feature's error weighted by
    /// `scale` `[1, dim]` (training uses 1 / the feature's variance, so that low-variance
    /// vectors still count against the responses), + w · response cross-entropy.
    pub fn loss(
        &self,
        p: &[Tensor<2>],
        b: &Batch,
        response_weight: f64,
        scale: &Tensor<2>,
    ) -> Tensor<1> {
        let o = self.forward(p, b);
        let n = b.valid.max(1) as f64;
        let err = (o.song - b.song.clone()).square() * scale.clone() * b.mask.clone();
        let mse = err.sum() / (n * self.dim as f64);
        // The one-hot rows are zero on padding, so padded steps add nothing.
        let ce = (log_softmax(o.logits, 1) * b.onehot.clone()).sum() / (-n);
        mse + ce * response_weight
    }

    /// Adds a batch's errors to `acc` (no gradients).
    pub fn measure(&self, p: &[Tensor<2>], b: &Batch, acc: &mut Errors) {
        let o = self.forward(p, b);
        let song_err = to_vec(&((o.song - b.song.clone()).square() * b.mask.clone()).sum());
        let probs = softmax(o.logits.clone(), 1);
        let resp_err = to_vec(&((probs - b.onehot.clone()).square() * b.mask.clone()).sum());
        let logp = to_vec(&(log_softmax(o.logits.clone(), 1) * b.onehot.clone()).sum());
        let logits = to_vec(&o.logits);
        for (row, &level) in b.levels.iter().enumerate() {
            if level == u8::MAX {
                continue;
            }
            let l = &logits[row * LEVELS..(row + 1) * LEVELS];
            let best = (0..LEVELS)
                .max_by(|&i, &j| l[i].total_cmp(&l[j]))
                .expect("4 levels");
            acc.correct += (best == level as usize) as u64;
        }
        acc.song_sq += song_err[0] as f64;
        acc.response_sq += resp_err[0] as f64;
        acc.log_loss -= logp[0] as f64;
        acc.steps += b.valid as u64;
    }
}

/// Sums of reconstruction errors over real steps.
#[derive(Clone, Debug, Default)]
pub struct Errors {
    pub steps: u64,
    pub song_sq: f64,
    pub response_sq: f64,
    pub log_loss: f64,
    pub correct: u64,
}

impl Errors {
    /// Mean squared error per song feature.
    pub fn song_mse(&self, dim: usize) -> f64 {
        self.song_sq / (self.steps.max(1) * dim as u64) as f64
    }
    /// Mean squared error of the response probabilities against the one-hot truth, per level.
    pub fn response_mse(&self) -> f64 {
        self.response_sq / (self.steps.max(1) * LEVELS as u64) as f64
    }
    /// MSE over every reconstructed value of a step: `dim` song features and 4 response
    /// probabilities.
    pub fn total_mse(&self, dim: usize) -> f64 {
        (self.song_sq + self.response_sq) / (self.steps.max(1) * (dim + LEVELS) as u64) as f64
    }
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.steps.max(1) as f64
    }
    pub fn cross_entropy(&self) -> f64 {
        self.log_loss / self.steps.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::super::data::{Histories, InputTransform, SongInputs};
    use super::*;
    use crate::nn::store;
    use burn::tensor::{Device, TensorData};

    fn setup(structure: Structure) -> (EncoderConfig, SongInputs, Histories) {
        let cfg = EncoderConfig {
            structure,
            hidden: 8,
            latent: 6,
            song_code: 3,
            song_hidden: 5,
            ..Default::default()
        };
        let mut rng = Rng::new(4);
        let songs = SongInputs {
            dim: 7,
            values: (0..20 * 7).map(|_| rng.f64() as f32).collect(),
            transform: InputTransform::Identity,
            catalogue: None,
        };
        let mut h = Histories {
            steps: cfg.history,
            ..Default::default()
        };
        h.push(&[(1, 3), (2, 0)]);
        h.push(&[(3, 1), (4, 2), (5, 3), (6, 0), (7, 1), (8, 2)]);
        h.push(&[(9, 3)]);
        (cfg, songs, h)
    }

    #[test]
    fn shapes_of_both_structures() {
        let dev = Device::flex();
        for structure in [Structure::A, Structure::B] {
            let (cfg, songs, h) = setup(structure);
            let mut p = Params::new(&dev);
            let m = HistoryAutoencoder::new(&cfg, songs.dim, &mut p);
            let b = h.batch(&[0, 1, 2], &songs, &dev);
            assert_eq!(m.encode(&p.values, &b).dims(), [3, 6]);
            let o = m.forward(&p.values, &b);
            assert_eq!(o.song.dims(), [5 * 3, 7]);
            assert_eq!(o.logits.dims(), [5 * 3, LEVELS]);
            let ones = Tensor::ones([1, 7], &dev);
            assert!(to_vec(&m.loss(&p.values, &b, 1.0, &ones))[0].is_finite());
        }
    }

    #[test]
    fn padding_leaves_no_trace_in_the_state() {
        // Fill the padded rows of short windows with noise: the latent states must not move.
        let dev = Device::flex();
        for structure in [Structure::A, Structure::B] {
            let (cfg, songs, h) = setup(structure);
            let mut p = Params::new(&dev);
            let m = HistoryAutoencoder::new(&cfg, songs.dim, &mut p);
            let b = h.batch(&[0, 1, 2], &songs, &dev);
            let z = to_vec(&m.encode(&p.values, &b));
            let mut noisy = b.clone();
            let mut song = to_vec(&b.song);
            let mask = to_vec(&b.mask);
            let mut rng = Rng::new(9);
            for (row, &m) in mask.iter().enumerate() {
                if m == 0.0 {
                    for x in &mut song[row * 7..(row + 1) * 7] {
                        *x = rng.f64() as f32;
                    }
                }
            }
            noisy.song = Tensor::from_data(TensorData::new(song, [15, 7]), &dev);
            assert_eq!(to_vec(&m.encode(&p.values, &noisy)), z, "{structure:?}");
            // A window's state depends on its own plays only, not on its batch-mates.
            let alone = to_vec(&m.encode(&p.values, &h.batch(&[2], &songs, &dev)));
            for (x, y) in alone.iter().zip(&z[12..18]) {
                assert!((x - y).abs() < 1e-6, "{structure:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn saved_weights_reproduce_the_encodings_exactly() {
        let dev = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        for structure in [Structure::A, Structure::B] {
            let (cfg, songs, h) = setup(structure);
            let mut p = Params::new(&dev);
            let m = HistoryAutoencoder::new(&cfg, songs.dim, &mut p);
            let b = h.batch(&[0, 1, 2], &songs, &dev);
            let z = to_vec(&m.encode(&p.values, &b));
            let path = dir.path().join("w.safetensors");
            store::save(&path, &p.export(), &Default::default()).unwrap();
            // A model built from another seed, then loaded: bit-identical encodings.
            let other = EncoderConfig {
                seed: 99,
                ..cfg.clone()
            };
            let mut q = Params::new(&dev);
            let m2 = HistoryAutoencoder::new(&other, songs.dim, &mut q);
            assert_ne!(to_vec(&m2.encode(&q.values, &b)), z);
            q.import(&store::load(&path).unwrap().0).unwrap();
            assert_eq!(to_vec(&m2.encode(&q.values, &b)), z, "{structure:?}");
        }
    }
}
