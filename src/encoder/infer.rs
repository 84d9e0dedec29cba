//! The history encoder's forward pass for inference ([`crate::nn::infer`]): what every
//! environment step, the simulator's keys and the agents' observations are encoded with once
//! an encoder is trained. Training runs on plain vectors too ([`super::grad`]), or on burn
//! tensors ([`super::model`]) on a GPU backend.

use super::config::Structure;
use super::data::LEVELS;
use super::data::SongInputs;
use crate::nn::infer::{self, Dense, LstmInfer};

/// Histories encoded per pass: bounds the buffers of a large batch.
const CHUNK: usize = 2048;

/// A trained [`super::model::HistoryAutoencoder`]'s encoder half, for inference.
#[derive(Clone, Debug)]
pub struct Inference {
    pub(super) structure: Structure,
    pub(super) steps: usize,
    pub(super) latent: usize,
    /// Structure B's song layers: `relu(enc1)`, then `sigmoid(enc2)`.
    pub(super) song: Option<(Dense, Dense)>,
    pub(super) lstm: LstmInfer,
    pub(super) to_latent: Dense,
}

impl Inference {
    /// The latent states of `histories` (each a list of (track, level), oldest first; the last
    /// `steps` plays count), `[histories, latent]` row-major.
    pub fn encode<H: AsRef<[(u32, u8)]>>(&self, histories: &[H], songs: &SongInputs) -> Vec<f32> {
        let mut out = Vec::with_capacity(histories.len() * self.latent);
        for chunk in histories.chunks(CHUNK) {
            out.extend(self.encode_chunk(chunk, songs));
        }
        out
    }

    fn encode_chunk<H: AsRef<[(u32, u8)]>>(&self, histories: &[H], songs: &SongInputs) -> Vec<f32> {
        let (n, l, d) = (histories.len(), self.steps, songs.dim);
        // Time-major rows t * n + j, zeros on padding (after a short history's plays).
        let mut song = vec![0.0f32; l * n * d];
        let mut onehot = vec![0.0f32; l * n * LEVELS];
        let mut lengths = Vec::with_capacity(n);
        for (j, h) in histories.iter().enumerate() {
            let h = h.as_ref();
            assert!(!h.is_empty(), "a history has at least one play");
            let plays = &h[h.len().saturating_sub(l)..];
            for (t, &(track, level)) in plays.iter().enumerate() {
                let row = t * n + j;
                song[row * d..(row + 1) * d].copy_from_slice(songs.song(track));
                onehot[row * LEVELS + level as usize] = 1.0;
            }
            lengths.push(plays.len());
        }
        let h = match self.structure {
            Structure::A => {
                let mut x = Vec::with_capacity(l * n * (d + LEVELS));
                for row in 0..l * n {
                    x.extend_from_slice(&song[row * d..(row + 1) * d]);
                    x.extend_from_slice(&onehot[row * LEVELS..(row + 1) * LEVELS]);
                }
                self.lstm.last_state(&x, &lengths)
            }
            Structure::B => {
                let (enc1, enc2) = self.song.as_ref().expect("structure B has song layers");
                let mut hidden = enc1.forward(&song);
                infer::relu(&mut hidden);
                let mut codes = enc2.forward(&hidden);
                infer::sigmoid(&mut codes);
                self.lstm.last_state(&codes, &lengths)
            }
        };
        let mut z = match self.structure {
            Structure::A => self.to_latent.forward(&h),
            Structure::B => {
                // The responses join the final state: [h | one-hot of each step], zeros on padding.
                let hd = self.lstm.hidden;
                let mut x = Vec::with_capacity(n * (hd + l * LEVELS));
                for j in 0..n {
                    x.extend_from_slice(&h[j * hd..(j + 1) * hd]);
                    for t in 0..l {
                        let row = t * n + j;
                        x.extend_from_slice(&onehot[row * LEVELS..(row + 1) * LEVELS]);
                    }
                }
                self.to_latent.forward(&x)
            }
        };
        infer::tanh(&mut z);
        z
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::super::EncoderConfig;
    use super::super::data::{Histories, InputTransform};
    use super::super::model::HistoryAutoencoder;
    use super::*;
    use crate::nn::{Params, to_vec};

    #[test]
    fn both_structures_encode_as_the_training_pass_does() {
        let dev = Device::flex();
        let songs = SongInputs {
            dim: 5,
            values: (0..60).map(|i| (i as f32 * 0.37).sin()).collect(),
            transform: InputTransform::Identity,
            catalogue: None,
        };
        // Lengths 1 to 7 against a window of 5: padded, full and cut histories.
        let hist: Vec<Vec<(u32, u8)>> = (0..23)
            .map(|i| {
                (0..1 + i % 7)
                    .map(|j| ((i * 3 + j) % 12, ((i + j) % 4) as u8))
                    .collect()
            })
            .collect();
        for structure in [Structure::A, Structure::B] {
            let cfg = EncoderConfig {
                structure,
                history: 5,
                latent: 7,
                hidden: 9,
                song_hidden: 6,
                song_code: 3,
                ..Default::default()
            };
            let mut p = Params::new(&dev);
            let model = HistoryAutoencoder::new(&cfg, songs.dim, &mut p);
            let mut h = Histories {
                steps: 5,
                ..Default::default()
            };
            hist.iter().for_each(|x| h.push(x));
            let idx: Vec<usize> = (0..hist.len()).collect();
            let want = to_vec(&model.encode(&p.values, &h.batch(&idx, &songs, &dev)));
            let got = model.inference(&p.values).encode(&hist, &songs);
            assert_eq!(got.len(), want.len());
            for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{structure:?} at {i}: {a} against {b}"
                );
            }
            // A history's state does not depend on the batch it is encoded in.
            let one = model.inference(&p.values).encode(&hist[4..5], &songs);
            assert_eq!(one, got[4 * 7..5 * 7]);
        }
    }
}
