//! Histories: for every play of a split, the window of the last `history` steps of its session
//! ending at that play (shorter at the start of a session), each step a song and the user's
//! response level (0 skip_1 … 3 not_skipped). Windows are left-aligned: step 0 is the oldest
//! play, steps past the window's length are padding that a mask removes from the state and the
//! loss.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::{Sample, Split};
use crate::songs::space::{SongSource, SongSpace};

/// Response levels: skip_1, skip_2, skip_3, not_skipped.
pub const LEVELS: usize = 4;

/// How song-space vectors become encoder inputs, so that reconstruction errors are measured on
/// features in [0, 1] as in the reference study.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InputTransform {
    /// Official features, already scaled to [0, 1] by the song space.
    Identity,
    /// Learned unit-length embeddings (coordinates in [−1, 1]) mapped by x ↦ (x + 1) / 2.
    HalfShift,
}

/// The encoder's view of every track: `[tracks, dim]` values in [0, 1].
#[derive(Clone, Debug)]
pub struct SongInputs {
    pub dim: usize,
    pub values: Vec<f32>,
    pub transform: InputTransform,
    /// The tracks a policy may recommend: the first this many (None: all). The rest are heard
    /// in histories only: tracks of logs a run never saw, at the fallback vector ([`Self::cover`]).
    pub catalogue: Option<usize>,
}

impl SongInputs {
    pub fn new(space: &SongSpace) -> SongInputs {
        let transform = match space.source {
            SongSource::Learned => InputTransform::HalfShift,
            _ => InputTransform::Identity,
        };
        let values = match transform {
            InputTransform::Identity => space.vectors.clone(),
            InputTransform::HalfShift => space.vectors.iter().map(|x| (x + 1.0) / 2.0).collect(),
        };
        SongInputs {
            dim: space.dim,
            values,
            transform,
            catalogue: None,
        }
    }

    pub fn song(&self, track: u32) -> &[f32] {
        &self.values[track as usize * self.dim..(track as usize + 1) * self.dim]
    }

    pub fn len(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The inputs of a track that `space` has no vector for: the space's fallback vector (that
    /// of its first track without one), or, when every track has its own, their mean (the
    /// fallback rule of official features).
    pub fn fallback(&self, space: &SongSpace) -> Vec<f32> {
        if let Some(t) = space.known.iter().position(|k| !k) {
            return self.song(t as u32).to_vec();
        }
        let mut mean = vec![0.0f64; self.dim];
        for row in self.values.chunks_exact(self.dim) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += *x as f64;
            }
        }
        let n = self.len().max(1) as f64;
        mean.iter().map(|m| (m / n) as f32).collect()
    }

    /// How many tracks a policy may recommend: the first this many ([`Self::catalogue`]).
    pub fn catalogue_len(&self) -> usize {
        self.catalogue.unwrap_or_else(|| self.len())
    }

    /// The values of the tracks a policy may recommend, `[catalogue, dim]`.
    pub fn catalogue_values(&self) -> &[f32] {
        &self.values[..self.catalogue_len() * self.dim]
    }

    /// Appends `row` for every track past the current ones up to `tracks` (tracks the song
    /// space has never seen, as in logs a run never saw): heard in histories, never
    /// recommended (the catalogue stays the tracks before).
    pub fn cover(&mut self, tracks: usize, row: &[f32]) {
        assert_eq!(
            row.len(),
            self.dim,
            "a fallback row has the songs' dimension"
        );
        self.catalogue = Some(self.catalogue_len());
        for _ in self.len()..tracks {
            self.values.extend_from_slice(row);
        }
    }
}

/// Every history window of a split.
#[derive(Clone, Debug, Default)]
pub struct Histories {
    /// Steps per window.
    pub steps: usize,
    /// `[windows, steps]`: track of each step (0 on padding).
    pub tracks: Vec<u32>,
    /// `[windows, steps]`: response level of each step (0 on padding).
    pub levels: Vec<u8>,
    /// Real steps of each window, 1..=steps.
    pub lengths: Vec<u8>,
}

impl Histories {
    /// The windows ending at every play of the sessions of `split`.
    pub fn from_split(sample: &Sample, split: Split, steps: usize) -> Histories {
        let mut h = Histories {
            steps,
            ..Default::default()
        };
        for s in sample.sessions_in(split) {
            let rows = sample.rows_of(s);
            for end in 0..rows.len() {
                let start = (end + 1).saturating_sub(steps);
                let plays: Vec<(u32, u8)> = rows[start..=end]
                    .iter()
                    .map(|r| (r.track, r.flags.response_level()))
                    .collect();
                h.push(&plays);
            }
        }
        h
    }

    /// Adds one window (oldest play first); only the last `steps` plays are kept.
    pub fn push(&mut self, plays: &[(u32, u8)]) {
        assert!(!plays.is_empty(), "a history has at least one play");
        let plays = &plays[plays.len().saturating_sub(self.steps)..];
        for t in 0..self.steps {
            let (track, level) = plays.get(t).copied().unwrap_or((0, 0));
            self.tracks.push(track);
            self.levels.push(level);
        }
        self.lengths.push(plays.len() as u8);
    }

    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// The tensors of the windows `idx`, time-major.
    pub fn batch(&self, idx: &[usize], songs: &SongInputs, device: &Device) -> Batch {
        Batch::assemble(self.rows(idx, songs), device)
    }

    /// The windows `idx` as plain time-major rows.
    pub fn rows(&self, idx: &[usize], songs: &SongInputs) -> Rows {
        let (b, l, d) = (idx.len(), self.steps, songs.dim);
        let mut song = vec![0.0f32; l * b * d];
        let mut onehot = vec![0.0f32; l * b * LEVELS];
        let mut mask = vec![0.0f32; l * b];
        let mut levels = vec![u8::MAX; l * b];
        for (j, &w) in idx.iter().enumerate() {
            for t in 0..self.lengths[w] as usize {
                let row = t * b + j;
                let track = self.tracks[w * l + t];
                let level = self.levels[w * l + t];
                song[row * d..(row + 1) * d].copy_from_slice(songs.song(track));
                onehot[row * LEVELS + level as usize] = 1.0;
                mask[row] = 1.0;
                levels[row] = level;
            }
        }
        Rows::new(song, onehot, mask, levels, l, d)
    }
}

/// Floats per step of a window kept as a flat row ([`window_row`]): the song, the response's
/// one-hot and a mask flag.
pub fn window_width(dim: usize) -> usize {
    dim + LEVELS + 1
}

/// The window of the last `steps` plays (oldest first) as one flat row of `steps ×
/// window_width(dim)` floats, step after step `[song | one-hot | 1]`, zeros on padding. The
/// form in which an agent that fine-tunes the encoder keeps its observations: the encoder runs
/// on them at every update.
pub fn window_row(plays: &[(u32, u8)], steps: usize, songs: &SongInputs, out: &mut Vec<f32>) {
    let plays = &plays[plays.len().saturating_sub(steps)..];
    for t in 0..steps {
        match plays.get(t) {
            Some(&(track, level)) => {
                out.extend_from_slice(songs.song(track));
                let mut onehot = [0.0f32; LEVELS];
                onehot[level as usize] = 1.0;
                out.extend_from_slice(&onehot);
                out.push(1.0);
            }
            None => out.extend(std::iter::repeat_n(0.0, window_width(songs.dim))),
        }
    }
}

impl Batch {
    /// The batch of flat window rows ([`window_row`]), `rows` `[n, steps · window_width(dim)]`.
    pub fn from_rows(rows: &[f32], steps: usize, dim: usize, device: &Device) -> Batch {
        let w = window_width(dim);
        let n = rows.len() / (steps * w);
        assert_eq!(rows.len(), n * steps * w, "rows of {steps} steps of {w}");
        let mut song = vec![0.0f32; steps * n * dim];
        let mut onehot = vec![0.0f32; steps * n * LEVELS];
        let mut mask = vec![0.0f32; steps * n];
        let mut levels = vec![u8::MAX; steps * n];
        for (j, row) in rows.chunks_exact(steps * w).enumerate() {
            for (t, step) in row.chunks_exact(w).enumerate() {
                if step[dim + LEVELS] == 0.0 {
                    continue;
                }
                let r = t * n + j;
                song[r * dim..(r + 1) * dim].copy_from_slice(&step[..dim]);
                let hot = &step[dim..dim + LEVELS];
                onehot[r * LEVELS..(r + 1) * LEVELS].copy_from_slice(hot);
                mask[r] = 1.0;
                levels[r] = (0..LEVELS).find(|&l| hot[l] > 0.0).unwrap_or(0) as u8;
            }
        }
        Batch::assemble(Rows::new(song, onehot, mask, levels, steps, dim), device)
    }

    /// The tensors of time-major rows.
    fn assemble(r: Rows, device: &Device) -> Batch {
        let (n, steps) = (r.size, r.steps);
        let tensor = |v: Vec<f32>, cols: usize| {
            let rows = v.len() / cols;
            Tensor::from_data(TensorData::new(v, [rows, cols]), device)
        };
        let step_mask = (0..steps)
            .map(|t| tensor(r.mask[t * n..(t + 1) * n].to_vec(), 1))
            .collect();
        Batch {
            size: n,
            steps,
            song: tensor(r.song, r.dim),
            onehot: tensor(r.onehot, LEVELS),
            mask: tensor(r.mask, 1),
            step_mask,
            levels: r.levels,
            valid: r.valid,
        }
    }
}

/// A minibatch of windows as plain vectors, time-major (row `t * size + b`): what the training
/// pass reads ([`super::grad`]); [`Batch`] holds the same as tensors.
#[derive(Clone, Debug)]
pub struct Rows {
    pub size: usize,
    pub steps: usize,
    pub dim: usize,
    /// `[steps * size, dim]`, zeros on padding.
    pub song: Vec<f32>,
    /// `[steps * size, LEVELS]`, zeros on padding.
    pub onehot: Vec<f32>,
    /// `[steps * size]`: 1 on real steps.
    pub mask: Vec<f32>,
    /// Level of each row, `u8::MAX` on padding.
    pub levels: Vec<u8>,
    /// Real steps in the batch.
    pub valid: usize,
}

impl Rows {
    /// The windows `range` of the batch (its columns `b`), with their rows.
    pub fn columns(&self, range: std::ops::Range<usize>) -> Rows {
        let (n, d) = (range.len(), self.dim);
        let mut part = Rows {
            size: n,
            steps: self.steps,
            dim: d,
            song: Vec::with_capacity(self.steps * n * d),
            onehot: Vec::with_capacity(self.steps * n * LEVELS),
            mask: Vec::with_capacity(self.steps * n),
            levels: Vec::with_capacity(self.steps * n),
            valid: 0,
        };
        for t in 0..self.steps {
            let rows = t * self.size + range.start..t * self.size + range.end;
            part.song
                .extend_from_slice(&self.song[rows.start * d..rows.end * d]);
            part.onehot
                .extend_from_slice(&self.onehot[rows.start * LEVELS..rows.end * LEVELS]);
            part.mask.extend_from_slice(&self.mask[rows.clone()]);
            part.levels.extend_from_slice(&self.levels[rows]);
        }
        part.valid = part.mask.iter().filter(|&&m| m > 0.0).count();
        part
    }

    fn new(
        song: Vec<f32>,
        onehot: Vec<f32>,
        mask: Vec<f32>,
        levels: Vec<u8>,
        steps: usize,
        dim: usize,
    ) -> Rows {
        Rows {
            size: mask.len() / steps.max(1),
            steps,
            dim,
            valid: mask.iter().filter(|&&m| m > 0.0).count(),
            song,
            onehot,
            mask,
            levels,
        }
    }
}

/// A minibatch of windows, time-major (row `t * size + b`).
#[derive(Clone, Debug)]
pub struct Batch {
    pub size: usize,
    pub steps: usize,
    /// `[steps * size, dim]`, zeros on padding.
    pub song: Tensor<2>,
    /// `[steps * size, LEVELS]`, zeros on padding.
    pub onehot: Tensor<2>,
    /// `[steps * size, 1]`: 1 on real steps.
    pub mask: Tensor<2>,
    /// Per step `[size, 1]`.
    pub step_mask: Vec<Tensor<2>>,
    /// Level of each row, `u8::MAX` on padding.
    pub levels: Vec<u8>,
    /// Real steps in the batch.
    pub valid: usize,
}

/// The distinct tracks played in `split`, in track order.
pub fn split_tracks(sample: &Sample, split: Split) -> Vec<u32> {
    let mut seen = vec![false; sample.tracks.len()];
    for s in sample.sessions_in(split) {
        for r in sample.rows_of(s) {
            seen[r.track as usize] = true;
        }
    }
    (0..sample.tracks.len() as u32)
        .filter(|&t| seen[t as usize])
        .collect()
}

/// The song vectors of `tracks`, `[tracks, dim]`.
pub fn song_batch(tracks: &[u32], songs: &SongInputs, device: &Device) -> Tensor<2> {
    let v = song_rows(tracks, songs);
    Tensor::from_data(TensorData::new(v, [tracks.len(), songs.dim]), device)
}

/// The song vectors of `tracks`, row after row (`[tracks, dim]`).
pub fn song_rows(tracks: &[u32], songs: &SongInputs) -> Vec<f32> {
    let mut v = Vec::with_capacity(tracks.len() * songs.dim);
    for &t in tracks {
        v.extend_from_slice(songs.song(t));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_keep_the_last_steps_left_aligned() {
        let mut h = Histories {
            steps: 3,
            ..Default::default()
        };
        h.push(&[(7, 3)]);
        h.push(&[(1, 0), (2, 1), (3, 2), (4, 3)]);
        assert_eq!(h.lengths, vec![1, 3]);
        assert_eq!(h.tracks, vec![7, 0, 0, 2, 3, 4]);
        assert_eq!(h.levels, vec![3, 0, 0, 1, 2, 3]);
        let songs = SongInputs {
            dim: 1,
            values: (0..8).map(|i| i as f32 / 10.0).collect(),
            transform: InputTransform::Identity,
            catalogue: None,
        };
        let dev = Device::flex();
        let b = h.batch(&[0, 1], &songs, &dev);
        assert_eq!(b.valid, 4);
        // Time-major rows: (t0,w0) (t0,w1) (t1,w0) (t1,w1) (t2,w0) (t2,w1).
        let mask = crate::nn::to_vec(&b.mask);
        assert_eq!(mask, vec![1.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
        let song = crate::nn::to_vec(&b.song);
        assert_eq!(song, vec![0.7, 0.2, 0.0, 0.3, 0.0, 0.4]);
        assert_eq!(b.levels, vec![3, 1, u8::MAX, 2, u8::MAX, 3]);
        // The same windows as flat rows give the same batch.
        let mut rows = Vec::new();
        window_row(&[(7, 3)], 3, &songs, &mut rows);
        window_row(&[(1, 0), (2, 1), (3, 2), (4, 3)], 3, &songs, &mut rows);
        assert_eq!(rows.len(), 2 * 3 * window_width(1));
        let r = Batch::from_rows(&rows, 3, 1, &dev);
        let v = crate::nn::to_vec;
        assert_eq!(
            (v(&r.song), v(&r.onehot), v(&r.mask)),
            (v(&b.song), v(&b.onehot), v(&b.mask))
        );
        assert_eq!((r.levels, r.valid), (b.levels, b.valid));
    }
}
