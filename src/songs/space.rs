//! The song space of a sample: one vector per track of the sample (in the sample's track order),
//! from official features when the sample has them and learned from the logs otherwise, saved as
//! `songs.json` (source, dimension names, the fitted scaling, figures) and `songs.bin` (vectors).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::embed::{self, EmbeddingConfig};
use super::features::{self, Scaling};
use super::index::{self, IndexKind, NearestTracks};
use crate::data::error::{DataError, Result};
use crate::data::{Sample, SampleDir, Split};
use crate::output::StagedDir;

/// Where song vectors come from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SongSource {
    /// Official features when the sample has them (`tf_sample.csv.gz`), else learned.
    Auto,
    /// Official track features, scaled to [0, 1].
    Features,
    /// Skip-gram embeddings learned from the training sessions.
    Learned,
}

/// Configuration of the song-space stage (the `[songs]` table of a run config).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SongsConfig {
    pub source: SongSource,
    pub embedding: EmbeddingConfig,
    /// The nearest-track backend.
    pub index: IndexKind,
}

impl Default for SongsConfig {
    fn default() -> Self {
        SongsConfig {
            source: SongSource::Auto,
            embedding: EmbeddingConfig::default(),
            index: IndexKind::default(),
        }
    }
}

/// One vector per track of a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SongSpace {
    pub source: SongSource,
    pub dim: usize,
    pub names: Vec<String>,
    /// `[tracks, dim]`, row-major, in the sample's track order.
    pub vectors: Vec<f32>,
    /// Whether a track has a vector of its own (false: the documented fallback).
    pub known: Vec<bool>,
    pub scaling: Option<Scaling>,
}

impl SongSpace {
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    pub fn vector(&self, track: u32) -> &[f32] {
        &self.vectors[track as usize * self.dim..(track as usize + 1) * self.dim]
    }

    /// Builds the song space of a loaded sample folder.
    pub fn build(dir: &Path, s: &SampleDir, cfg: &SongsConfig) -> Result<SongSpace> {
        let tf = features::sample_features(dir);
        let source = match (cfg.source, &tf) {
            (SongSource::Auto, Some(_)) | (SongSource::Features, Some(_)) => SongSource::Features,
            (SongSource::Features, None) => {
                return Err(DataError::NoInput(format!(
                    "{} has no track features (sample with --tracks to keep them)",
                    dir.display()
                )));
            }
            _ => SongSource::Learned,
        };
        let sample = &s.sample;
        if source == SongSource::Learned {
            let e = embed::train(sample, &cfg.embedding);
            return Ok(SongSpace {
                source,
                dim: e.dim,
                names: (0..e.dim).map(|i| format!("e{i}")).collect(),
                vectors: e.vectors,
                known: e.known,
                scaling: None,
            });
        }
        let raw = features::read(&tf.into_iter().collect::<Vec<_>>())?;
        let mut train_tracks = vec![false; sample.tracks.len()];
        for sess in sample.sessions_in(Split::Train) {
            for r in sample.rows_of(sess) {
                train_tracks[r.track as usize] = true;
            }
        }
        let training: Vec<&[features::RawValue]> = sample
            .tracks
            .iter()
            .zip(&train_tracks)
            .filter(|(_, t)| **t)
            .filter_map(|(id, _)| raw.rows.get(id).map(Vec::as_slice))
            .collect();
        let scaling = features::fit(&raw.columns, &training);
        let dim = scaling.dim();
        let mut vectors = Vec::with_capacity(sample.tracks.len() * dim);
        let mut known = Vec::with_capacity(sample.tracks.len());
        let mut row = Vec::with_capacity(dim);
        let mut mean = vec![0.0f64; dim];
        let mut n_known = 0.0;
        for id in &sample.tracks {
            row.clear();
            match raw.rows.get(id) {
                Some(r) => {
                    scaling.apply(r, &mut row);
                    for (m, x) in mean.iter_mut().zip(&row) {
                        *m += *x as f64;
                    }
                    n_known += 1.0;
                    known.push(true);
                }
                None => {
                    row.resize(dim, f32::NAN);
                    known.push(false);
                }
            }
            vectors.extend_from_slice(&row);
        }
        // Tracks without features: the mean vector of those with features.
        let mean: Vec<f32> = mean
            .iter()
            .map(|m| (m / f64::max(n_known, 1.0)) as f32)
            .collect();
        for (v, k) in vectors.chunks_exact_mut(dim).zip(&known) {
            if !k {
                v.copy_from_slice(&mean);
            }
        }
        Ok(SongSpace {
            source,
            dim,
            names: scaling.names(),
            vectors,
            known,
            scaling: Some(scaling),
        })
    }

    /// A nearest-track index over the space.
    pub fn index(&self, kind: &IndexKind) -> Box<dyn NearestTracks> {
        index::build(kind, self.vectors.clone(), self.dim)
    }
}

/// Held-out next-track retrieval: for every transition a → b of a test session, is b among the k
/// nearest tracks to a's vector (a itself excluded)? Popularity answers with the most played
/// training tracks instead.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Retrieval {
    pub transitions: u64,
    /// Transitions whose first track has no vector of its own.
    pub unknown_queries: u64,
    pub hit_at_10: f64,
    pub hit_at_100: f64,
    pub popularity_hit_at_10: f64,
    pub popularity_hit_at_100: f64,
    /// The same four rates over the transitions whose first track has a vector of its own.
    pub known_hit_at_10: f64,
    pub known_hit_at_100: f64,
    pub known_popularity_hit_at_10: f64,
    pub known_popularity_hit_at_100: f64,
}

pub fn next_track_retrieval(
    sample: &Sample,
    space: &SongSpace,
    index: &dyn NearestTracks,
) -> Retrieval {
    let mut plays = vec![0u64; sample.tracks.len()];
    for s in sample.sessions_in(Split::Train) {
        for r in sample.rows_of(s) {
            plays[r.track as usize] += 1;
        }
    }
    let mut popular: Vec<u32> = (0..sample.tracks.len() as u32).collect();
    popular.sort_by(|a, b| plays[*b as usize].cmp(&plays[*a as usize]).then(a.cmp(b)));
    popular.truncate(101);
    let pairs: Vec<(u32, u32)> = sample
        .sessions_in(Split::Test)
        .flat_map(|s| {
            sample
                .rows_of(s)
                .windows(2)
                .map(|w| (w[0].track, w[1].track))
        })
        .collect();
    let mut queries = Vec::with_capacity(pairs.len() * space.dim);
    for &(a, _) in &pairs {
        queries.extend_from_slice(space.vector(a));
    }
    let found = index.search_batch(&queries, 101);
    // Hits at 10 and 100 for the song space and for popularity: over all transitions, and
    // over those whose first track has its own vector.
    let mut all = [0u64; 4];
    let mut known = [0u64; 4];
    let mut unknown = 0u64;
    for (&(a, b), nn) in pairs.iter().zip(&found) {
        let ranked: Vec<u32> = nn.iter().map(|n| n.id).filter(|&t| t != a).collect();
        let pop: Vec<u32> = popular.iter().copied().filter(|&t| t != a).collect();
        let hit = |list: &[u32], k: usize| list.iter().take(k).any(|&t| t == b) as u64;
        let hits = [
            hit(&ranked, 10),
            hit(&ranked, 100),
            hit(&pop, 10),
            hit(&pop, 100),
        ];
        let is_known = space.known[a as usize];
        unknown += !is_known as u64;
        for i in 0..4 {
            all[i] += hits[i];
            known[i] += hits[i] * is_known as u64;
        }
    }
    let n = pairs.len().max(1) as f64;
    let nk = (pairs.len() as u64 - unknown).max(1) as f64;
    Retrieval {
        transitions: pairs.len() as u64,
        unknown_queries: unknown,
        hit_at_10: all[0] as f64 / n,
        hit_at_100: all[1] as f64 / n,
        popularity_hit_at_10: all[2] as f64 / n,
        popularity_hit_at_100: all[3] as f64 / n,
        known_hit_at_10: known[0] as f64 / nk,
        known_hit_at_100: known[1] as f64 / nk,
        known_popularity_hit_at_10: known[2] as f64 / nk,
        known_popularity_hit_at_100: known[3] as f64 / nk,
    }
}

/// `songs.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SongsManifest {
    pub segue_version: String,
    pub sample: std::path::PathBuf,
    pub config: SongsConfig,
    pub source: SongSource,
    pub dim: usize,
    pub names: Vec<String>,
    pub tracks: usize,
    pub known: usize,
    pub scaling: Option<Scaling>,
    pub retrieval: Retrieval,
}

/// Builds, evaluates and saves the song space of the sample in `sample_dir` into `out`.
pub fn run_songs(
    sample_dir: &Path,
    cfg: &SongsConfig,
    out: &Path,
    force: bool,
) -> Result<SongsManifest> {
    let s = crate::data::load_sample_dir(sample_dir)?;
    let space = SongSpace::build(sample_dir, &s, cfg)?;
    // Retrieval is scored with the exact backend, so the figure measures the vectors alone.
    let exact = space.index(&IndexKind::Exact);
    let retrieval = next_track_retrieval(&s.sample, &space, exact.as_ref());
    let staged = StagedDir::new(out, force).map_err(|e| DataError::io(out, e))?;
    let manifest = SongsManifest {
        segue_version: env!("CARGO_PKG_VERSION").into(),
        sample: sample_dir.to_path_buf(),
        config: cfg.clone(),
        source: space.source,
        dim: space.dim,
        names: space.names.clone(),
        tracks: space.len(),
        known: space.known.iter().filter(|&&k| k).count(),
        scaling: space.scaling.clone(),
        retrieval,
    };
    let json = staged.join("songs.json");
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| DataError::BadOutput {
        path: json.clone(),
        problem: e.to_string(),
    })?;
    std::fs::write(&json, text + "\n").map_err(|e| DataError::io(&json, e))?;
    let mut bin = Vec::with_capacity(16 + space.vectors.len() * 4 + space.len());
    bin.extend_from_slice(b"SEGUESNG");
    bin.extend_from_slice(&(space.len() as u32).to_le_bytes());
    bin.extend_from_slice(&(space.dim as u32).to_le_bytes());
    for x in &space.vectors {
        bin.extend_from_slice(&x.to_le_bytes());
    }
    bin.extend(space.known.iter().map(|&k| k as u8));
    let sum = crate::data::cache::checksum(&bin);
    bin.extend_from_slice(&sum.to_le_bytes());
    let bin_path = staged.join("songs.bin");
    std::fs::write(&bin_path, bin).map_err(|e| DataError::io(&bin_path, e))?;
    staged.commit().map_err(|e| DataError::io(out, e))?;
    Ok(manifest)
}

/// Loads a song space saved by [`run_songs`].
pub fn load(dir: &Path) -> Result<(SongsManifest, SongSpace)> {
    let json = dir.join("songs.json");
    let text = std::fs::read_to_string(&json).map_err(|e| DataError::io(&json, e))?;
    let m: SongsManifest = serde_json::from_str(&text).map_err(|e| DataError::BadCache {
        path: json.clone(),
        problem: e.to_string(),
    })?;
    let bin_path = dir.join("songs.bin");
    let b = std::fs::read(&bin_path).map_err(|e| DataError::io(&bin_path, e))?;
    let bad = |p: &str| DataError::BadCache {
        path: bin_path.clone(),
        problem: p.into(),
    };
    if b.len() < 24 || &b[..8] != b"SEGUESNG" {
        return Err(bad("not a segue song space"));
    }
    let (body, sum) = b.split_at(b.len() - 8);
    if crate::data::cache::checksum(body).to_le_bytes() != sum {
        return Err(bad("checksum mismatch: truncated or corrupt"));
    }
    let n = u32::from_le_bytes([body[8], body[9], body[10], body[11]]) as usize;
    let dim = u32::from_le_bytes([body[12], body[13], body[14], body[15]]) as usize;
    let expected = n
        .checked_mul(dim)
        .and_then(|x| x.checked_mul(4))
        .and_then(|x| x.checked_add(16 + n));
    if dim == 0 || expected != Some(body.len()) || n != m.tracks || dim != m.dim {
        return Err(bad("sizes disagree with songs.json"));
    }
    let vectors = body[16..16 + n * dim * 4]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let known = body[16 + n * dim * 4..].iter().map(|&k| k != 0).collect();
    let space = SongSpace {
        source: m.source,
        dim,
        names: m.names.clone(),
        vectors,
        known,
        scaling: m.scaling.clone(),
    };
    Ok((m, space))
}
