//! Nearest real tracks to a point of song space: one trait, an exact backend (brute force, batched
//! through sgemm) and an approximate one (HNSW, [`super::hnsw`]), chosen by [`IndexKind`] — the
//! shape of linfa-nn's `NearestNeighbour` with interchangeable backends.

use serde::{Deserialize, Serialize};

use super::dedup::Dedup;
use super::distance::{Kernel, kernel};
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

/// Brute-force search.
pub struct Exact {
    vectors: Vec<f32>,
    norms: Vec<f32>,
    dim: usize,
    dist: Kernel,
}

impl Exact {
    pub fn new(vectors: Vec<f32>, dim: usize) -> Exact {
        let norms = vectors
            .chunks_exact(dim.max(1))
            .map(|v| v.iter().map(|x| x * x).sum())
            .collect();
        Exact {
            vectors,
            norms,
            dim,
            dist: kernel(),
        }
    }
}

/// Queries per sgemm block and tracks per block: a 256 × 2048 block of dot products is 2 MiB.
const QUERY_BLOCK: usize = 256;
const ITEM_BLOCK: usize = 2048;

impl NearestTracks for Exact {
    fn len(&self) -> usize {
        self.norms.len()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        let mut top = TopK::new(k);
        for (i, v) in self.vectors.chunks_exact(self.dim).enumerate() {
            top.push(i as u32, (self.dist)(query, v));
        }
        top.into_vec()
    }

    /// Distances as ‖x‖² − 2·q·x + ‖q‖², the dot products by blocks of sgemm.
    fn search_batch(&self, queries: &[f32], k: usize) -> Vec<Vec<Neighbour>> {
        let d = self.dim;
        let n = self.len();
        let mut out = Vec::with_capacity(queries.len() / d.max(1));
        let mut dots = vec![0.0f32; QUERY_BLOCK * ITEM_BLOCK];
        for qb in queries.chunks(QUERY_BLOCK * d) {
            let nq = qb.len() / d;
            let qnorm: Vec<f32> = qb
                .chunks_exact(d)
                .map(|q| q.iter().map(|x| x * x).sum())
                .collect();
            let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
            for start in (0..n).step_by(ITEM_BLOCK) {
                let ni = ITEM_BLOCK.min(n - start);
                let items = &self.vectors[start * d..(start + ni) * d];
                // dots[nq × ni] = queries[nq × d] · itemsᵀ[d × ni]
                // SAFETY: the pointers and strides describe the slices above, all in bounds.
                unsafe {
                    matrixmultiply::sgemm(
                        nq,
                        d,
                        ni,
                        1.0,
                        qb.as_ptr(),
                        d as isize,
                        1,
                        items.as_ptr(),
                        1,
                        d as isize,
                        0.0,
                        dots.as_mut_ptr(),
                        ni as isize,
                        1,
                    );
                }
                let norms = &self.norms[start..start + ni];
                for (q, top) in tops.iter_mut().enumerate() {
                    let row = &dots[q * ni..(q + 1) * ni];
                    // Compare ‖x‖² − 2·q·x against the bound less ‖q‖²: one subtraction saved per
                    // item, and the bound re-read only when something enters.
                    let mut bound = top.bound() - qnorm[q];
                    for (j, (&dot, &norm)) in row.iter().zip(norms).enumerate() {
                        let partial = norm - 2.0 * dot;
                        if partial < bound {
                            top.push((start + j) as u32, (partial + qnorm[q]).max(0.0));
                            bound = top.bound() - qnorm[q];
                        }
                    }
                }
            }
            out.extend(tops.into_iter().map(TopK::into_vec));
        }
        out
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
    use crate::rng::Rng;

    fn points(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        (0..n * dim).map(|_| r.normal() as f32).collect()
    }

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

    #[test]
    fn exact_single_and_batch_agree_with_a_hand_example() {
        // Points on a line: 0, 1, 3, 7. From 2.6 the order is 3 (0.16), 1 (2.56), 0 (6.76).
        let e = Exact::new(vec![0.0, 1.0, 3.0, 7.0], 1);
        let got = e.search(&[2.6], 3);
        assert_eq!(got.iter().map(|n| n.id).collect::<Vec<_>>(), vec![2, 1, 0]);
        assert!((got[0].dist - 0.16).abs() < 1e-5);
        let dim = 12;
        let e = Exact::new(points(9_000, dim, 1), dim);
        let q = points(70, dim, 2);
        let batch = e.search_batch(&q, 10);
        let single: Vec<Vec<Neighbour>> = q.chunks_exact(dim).map(|qi| e.search(qi, 10)).collect();
        // The sgemm form rounds differently, so a near-tie at rank 10 may swap; nothing more.
        assert!(recall_at(&single, &batch, 10) >= 0.995);
        for (s, b) in single.iter().zip(&batch) {
            assert_eq!(s[0].id, b[0].id);
            assert!((s[0].dist - b[0].dist).abs() < 1e-3);
        }
    }
}
