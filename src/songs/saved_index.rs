//! The HNSW track index on disk beside a trained run (`index.bin`), so that serving a large
//! catalogue starts without rebuilding the graph. The file holds plain little-endian arrays,
//! keyed by a checksum of the indexed vectors and the build settings, and ends with a
//! checksum of its own bytes: a missing, stale or damaged file is rebuilt (and rewritten when
//! the folder is writable), never trusted.

use std::path::Path;

use super::bytes::{Reader, Writer};
use super::dedup::Dedup;
use super::hnsw::{Hnsw, HnswConfig};
use super::index::{IndexKind, NearestTracks, build};

const MAGIC: &[u8; 8] = b"SEGUEIX1";

/// FNV-1a, 64 bits: a checksum, not a defence against a crafted file (the file is the run's own).
fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// What the saved graph must have been built from: the vectors' bits and the settings that
/// shape the graph (`ef_search` only affects searching, so it is not part of it).
fn key(vectors: &[f32], dim: usize, cfg: &HnswConfig) -> u64 {
    let mut h = FNV_START;
    for v in [dim, cfg.m, cfg.ef_construction] {
        h = fnv(&(v as u64).to_le_bytes(), h);
    }
    h = fnv(&cfg.seed.to_le_bytes(), h);
    for x in vectors {
        h = fnv(&x.to_bits().to_le_bytes(), h);
    }
    h
}

/// Reads the index saved at `path` if it was built from exactly these vectors and settings.
fn read(path: &Path, want: u64, cfg: &HnswConfig) -> Option<Dedup<Hnsw>> {
    let bytes = std::fs::read(path).ok()?;
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
    if fnv(body, FNV_START) != u64::from_le_bytes(sum.try_into().ok()?) {
        tracing::warn!("{}: damaged; rebuilding the index", path.display());
        return None;
    }
    let mut r = Reader(body.strip_prefix(MAGIC)?);
    if r.u64()? != want {
        tracing::info!(
            "{}: built from other vectors or settings; rebuilding",
            path.display()
        );
        return None;
    }
    let index = Dedup::decode(&mut r, |r| Hnsw::decode(r, cfg.ef_search))?;
    r.0.is_empty().then_some(index)
}

fn write(path: &Path, want: u64, index: &Dedup<Hnsw>) -> std::io::Result<()> {
    let mut w = Writer::default();
    w.0.extend_from_slice(MAGIC);
    w.u64(want);
    index.encode(&mut w, |h, w| h.encode(w));
    let sum = fnv(&w.0, FNV_START);
    w.u64(sum);
    crate::output::write_atomic(path, &w.0)
}

/// [`build`], but an HNSW index is read from `path` when it was saved there from the same
/// vectors and settings, and saved there after building otherwise (a folder that cannot be
/// written only costs the rebuild next time).
pub fn build_saved(
    kind: &IndexKind,
    vectors: Vec<f32>,
    dim: usize,
    path: &Path,
) -> Box<dyn NearestTracks> {
    let IndexKind::Hnsw(cfg) = kind else {
        return build(kind, vectors, dim);
    };
    let want = key(&vectors, dim.max(1), cfg);
    if let Some(index) = read(path, want, cfg) {
        return Box::new(index);
    }
    let index = Dedup::build(vectors, dim, |v, d| Hnsw::build(v, d, cfg));
    if let Err(e) = write(path, want, &index) {
        tracing::warn!("{}: could not save the index: {e}", path.display());
    }
    Box::new(index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn saved_index_answers_as_the_built_one_and_is_rebuilt_when_stale_or_damaged() {
        let dim = 6;
        let mut rng = Rng::new(3);
        let mut vectors: Vec<f32> = (0..600 * dim).map(|_| rng.normal() as f32).collect();
        // Copies, so the dedup layer is saved too.
        let copy = vectors[..dim].to_vec();
        vectors[dim * 5..dim * 6].copy_from_slice(&copy);
        let kind = IndexKind::Hnsw(HnswConfig::default());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.bin");
        let queries: Vec<f32> = (0..20 * dim).map(|_| rng.normal() as f32).collect();
        let answers = |ix: &dyn NearestTracks| ix.search_batch(&queries, 7);

        let built = build(&kind, vectors.clone(), dim);
        let first = build_saved(&kind, vectors.clone(), dim, &path);
        assert!(path.is_file());
        let saved = std::fs::read(&path).unwrap();
        let again = build_saved(&kind, vectors.clone(), dim, &path);
        assert_eq!(answers(&*first), answers(&*built));
        assert_eq!(answers(&*again), answers(&*built));
        // Read, not rebuilt: the file is untouched.
        assert_eq!(std::fs::read(&path).unwrap(), saved);

        // Other vectors: rebuilt for them, and the file rewritten.
        let mut other = vectors.clone();
        other[0] += 1.0;
        let rebuilt = build_saved(&kind, other.clone(), dim, &path);
        assert_eq!(answers(&*rebuilt), answers(&*build(&kind, other, dim)));
        assert_ne!(std::fs::read(&path).unwrap(), saved);

        // A damaged file (one flipped byte, or cut short) is rebuilt, never trusted.
        for damage in [0usize, 1] {
            let mut bytes = saved.clone();
            if damage == 0 {
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0x40;
            } else {
                bytes.truncate(bytes.len() / 3);
            }
            std::fs::write(&path, &bytes).unwrap();
            let ix = build_saved(&kind, vectors.clone(), dim, &path);
            assert_eq!(answers(&*ix), answers(&*built));
            assert_eq!(std::fs::read(&path).unwrap(), saved);
        }
    }
}
