//! Nearest real tracks to a point of song space: one trait, an exact backend (brute force over
//! tiled items, [`super::exact`]) and an approximate one (HNSW, [`super::hnsw`]), chosen by
//! [`IndexKind`]: the shape of linfa-nn's `NearestNeighbour` with interchangeable backends.

use serde::{Deserialize, Serialize};

use super::dedup::Dedup;
pub use super::exact::Exact;
use super::hnsw::{Hnsw, HnswConfig};
pub use super::nearest::{NearestTracks, Neighbour, TopK};

/// Which backend answers nearest-track queries.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum IndexKind {
    /// Every track compared with every query: exact, slower on large catalogues.
    Exact,
    /// Hierarchical navigable small-world graph (Malkov & Yashunin 2018): approximate, fast.
    /// Bit-identical vectors share one node ([`Dedup`]).
    Hnsw(HnswConfig),
}

impl Default for IndexKind {
    fn default() -> Self {
        IndexKind::Hnsw(HnswConfig::default())
    }
}

/// Builds the index of `kind` over `vectors` (`[n, dim]`, row-major).
pub fn build(kind: &IndexKind, vectors: Vec<f32>, dim: usize) -> Box<dyn NearestTracks> {
    match kind {
        IndexKind::Exact => Box::new(Exact::new(vectors, dim)),
        // Copies of one vector would cost the graph its links and come back in walk order.
        IndexKind::Hnsw(cfg) => Box::new(Dedup::build(vectors, dim, |v, d| Hnsw::build(v, d, cfg))),
    }
}

/// Share of the true `k` nearest found by `got`, averaged over queries.
pub fn recall_at(truth: &[Vec<Neighbour>], got: &[Vec<Neighbour>], k: usize) -> f64 {
    let mut hit = 0usize;
    let mut total = 0usize;
    for (t, g) in truth.iter().zip(got) {
        let want: std::collections::HashSet<u32> = t.iter().take(k).map(|n| n.id).collect();
        hit += g.iter().take(k).filter(|n| want.contains(&n.id)).count();
        total += want.len();
    }
    hit as f64 / total.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_keeps_the_smallest_sorted() {
        let mut t = TopK::new(3);
        for (id, d) in [(0, 5.0), (1, 1.0), (2, 3.0), (3, 0.5), (4, 9.0), (5, 3.0)] {
            t.push(id, d);
        }
        let got: Vec<(u32, f32)> = t.into_vec().iter().map(|n| (n.id, n.dist)).collect();
        assert_eq!(got, vec![(3, 0.5), (1, 1.0), (2, 3.0)]);
        assert!(TopK::new(0).into_vec().is_empty());
    }
}
