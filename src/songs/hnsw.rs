//! Hierarchical navigable small-world graphs (Malkov & Yashunin, "Efficient and robust
//! approximate nearest neighbor search using HNSW graphs", TPAMI 2018): Algorithm 1 (insert),
//! 2 (search a layer), 4 (the neighbour-selection heuristic) and 5 (k-NN search).
//!
//! Layer 0 keeps, for each node, its links and its vector side by side in one block (as hnswlib
//! does) so that a hop touches one region of memory; upper layers, which hold about 1/M of the
//! nodes, keep their links apart. Levels come from a seeded generator and nodes are inserted in
//! order, so the same vectors and seed build the same graph.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::bytes::{Reader, Writer};
use super::distance::{Kernel, kernel, prefetch};
use super::nearest::{NearestTracks, Neighbour, TopK};
use crate::rng::Rng;

/// Parameters of an HNSW index.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HnswConfig {
    /// Links per node on the upper layers (twice as many on layer 0).
    pub m: usize,
    /// Candidates kept while inserting (higher: better graph, slower build).
    pub ef_construction: usize,
    /// Candidates kept while searching (higher: better recall, slower queries); at least k.
    pub ef_search: usize,
    /// Seed of the level draws.
    pub seed: u64,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            m: 16,
            ef_construction: 200,
            ef_search: 64,
            seed: 0,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
struct Cand {
    dist: f32,
    id: u32,
}

impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.dist.total_cmp(&o.dist).then(self.id.cmp(&o.id))
    }
}

/// Marks visited nodes by stamping them with the current search's number.
struct Visited {
    stamp: u32,
    marks: Vec<u32>,
}

impl Visited {
    fn new(n: usize) -> Visited {
        Visited {
            stamp: 0,
            marks: vec![0; n],
        }
    }
    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.marks.fill(0);
            self.stamp = 1;
        }
    }
    /// True the first time `i` is seen in this search.
    #[inline]
    fn insert(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        if *m == self.stamp {
            false
        } else {
            *m = self.stamp;
            true
        }
    }
}

/// An HNSW index over `[n, dim]` vectors.
pub struct Hnsw {
    dim: usize,
    m: usize,
    m0: usize,
    ef_search: usize,
    /// Per node: `[count, m0 links, dim floats as bits]`.
    level0: Vec<u32>,
    stride: usize,
    /// Per node with level ≥ 1: offset of its blocks in `upper` (`[count, m links]` per level).
    levels: Vec<u8>,
    upper_at: Vec<u32>,
    upper: Vec<u32>,
    entry: u32,
    max_level: usize,
    n: usize,
    dist: Kernel,
    pool: Mutex<Vec<Visited>>,
}

impl Hnsw {
    /// Appends the graph to `w` (the saved index, [`super::saved_index`]).
    pub(super) fn encode(&self, w: &mut Writer) {
        for v in [
            self.dim,
            self.m,
            self.m0,
            self.stride,
            self.n,
            self.max_level,
        ] {
            w.u64(v as u64);
        }
        w.u64(self.entry as u64);
        w.u32s(&self.level0);
        w.u8s(&self.levels);
        w.u32s(&self.upper_at);
        w.u32s(&self.upper);
    }

    /// Reads what [`Hnsw::encode`] wrote; `None` when the arrays do not fit together.
    pub(super) fn decode(r: &mut Reader, ef_search: usize) -> Option<Hnsw> {
        let [dim, m, m0, stride, n, max_level] = [(); 6].map(|_| r.usize());
        let (dim, m, m0, stride, n, max_level) = (dim?, m?, m0?, stride?, n?, max_level?);
        let entry = u32::try_from(r.u64()?).ok()?;
        let (level0, levels, upper_at, upper) = (r.u32s()?, r.u8s()?, r.u32s()?, r.u32s()?);
        let fits = dim > 0
            && stride == 1 + m0 + dim
            && level0.len() == n.checked_mul(stride)?
            && levels.len() == n
            && upper_at.len() == n
            && max_level <= 30
            && (n == 0 || (entry as usize) < n);
        fits.then(|| Hnsw {
            dim,
            m,
            m0,
            ef_search: ef_search.max(1),
            level0,
            stride,
            levels,
            upper_at,
            upper,
            entry,
            max_level,
            n,
            dist: kernel(),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// Builds the index by inserting the vectors in order.
    pub fn build(vectors: Vec<f32>, dim: usize, cfg: &HnswConfig) -> Hnsw {
        Hnsw::build_with_progress(vectors, dim, cfg, None)
    }

    /// [`Hnsw::build`], advancing `progress` by one per inserted vector.
    pub fn build_with_progress(
        vectors: Vec<f32>,
        dim: usize,
        cfg: &HnswConfig,
        progress: Option<&indicatif::ProgressBar>,
    ) -> Hnsw {
        let dim = dim.max(1);
        let n = vectors.len() / dim;
        let m = cfg.m.max(2);
        let m0 = 2 * m;
        let stride = 1 + m0 + dim;
        let mut level0 = vec![0u32; n * stride];
        for (i, v) in vectors.chunks_exact(dim).enumerate() {
            for (j, x) in v.iter().enumerate() {
                level0[i * stride + 1 + m0 + j] = x.to_bits();
            }
        }
        drop(vectors);
        let mut rng = Rng::new(cfg.seed);
        let ml = 1.0 / (m as f64).ln();
        let levels: Vec<u8> = (0..n)
            .map(|_| ((-rng.open01().ln() * ml) as usize).min(30) as u8)
            .collect();
        let mut upper_at = vec![u32::MAX; n];
        let mut total = 0usize;
        for (i, &l) in levels.iter().enumerate() {
            if l > 0 {
                upper_at[i] = total as u32;
                total += l as usize * (1 + m);
            }
        }
        let mut h = Hnsw {
            dim,
            m,
            m0,
            ef_search: cfg.ef_search.max(1),
            level0,
            stride,
            levels,
            upper_at,
            upper: vec![0; total],
            entry: 0,
            max_level: 0,
            n: 0,
            dist: kernel(),
            pool: Mutex::new(Vec::new()),
        };
        let mut visited = Visited::new(n);
        let ef_c = cfg.ef_construction.max(m);
        for i in 0..n as u32 {
            h.insert(i, ef_c, &mut visited);
            if let Some(p) = progress
                && i % 4096 == 4095
            {
                p.inc(4096);
            }
        }
        h
    }

    #[inline]
    fn vector(&self, i: u32) -> &[f32] {
        let start = i as usize * self.stride + 1 + self.m0;
        let bits = &self.level0[start..start + self.dim];
        // SAFETY: f32 and u32 have the same size and alignment, and every bit pattern is a valid
        // f32; the block was filled from f32::to_bits.
        unsafe { std::slice::from_raw_parts(bits.as_ptr() as *const f32, bits.len()) }
    }

    #[inline]
    fn links(&self, i: u32, layer: usize) -> &[u32] {
        let block = if layer == 0 {
            let s = i as usize * self.stride;
            &self.level0[s..s + 1 + self.m0]
        } else {
            let s = self.upper_at[i as usize] as usize + (layer - 1) * (1 + self.m);
            &self.upper[s..s + 1 + self.m]
        };
        &block[1..1 + block[0] as usize]
    }

    fn set_links(&mut self, i: u32, layer: usize, links: &[u32]) {
        let block = if layer == 0 {
            let s = i as usize * self.stride;
            &mut self.level0[s..s + 1 + self.m0]
        } else {
            let s = self.upper_at[i as usize] as usize + (layer - 1) * (1 + self.m);
            &mut self.upper[s..s + 1 + self.m]
        };
        block[0] = links.len() as u32;
        block[1..1 + links.len()].copy_from_slice(links);
    }

    #[inline]
    fn d(&self, q: &[f32], i: u32) -> f32 {
        (self.dist)(q, self.vector(i))
    }

    /// Algorithm 2 with `ef` = 1, as a plain greedy walk (no heaps): the closest node to `q`
    /// reachable on `layer` from `entry` by always stepping to a closer neighbour.
    fn greedy(&self, q: &[f32], mut cur: Cand, layer: usize) -> Cand {
        loop {
            let mut moved = false;
            for &nb in self.links(cur.id, layer) {
                let d = self.d(q, nb);
                if d < cur.dist {
                    cur = Cand { dist: d, id: nb };
                    moved = true;
                }
            }
            if !moved {
                return cur;
            }
        }
    }

    /// Algorithm 2: the `ef` nearest to `q` reachable on `layer` from `entry`, nearest first.
    fn search_layer(
        &self,
        q: &[f32],
        entry: &[Cand],
        ef: usize,
        layer: usize,
        visited: &mut Visited,
    ) -> Vec<Cand> {
        visited.reset(self.levels.len());
        let mut candidates: BinaryHeap<Reverse<Cand>> = BinaryHeap::with_capacity(ef * 2);
        let mut results: BinaryHeap<Cand> = BinaryHeap::with_capacity(ef + 1);
        for &e in entry {
            visited.insert(e.id);
            candidates.push(Reverse(e));
            results.push(e);
        }
        while let Some(Reverse(c)) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| c.dist > w.dist) {
                break;
            }
            let links = self.links(c.id, layer);
            if layer == 0 {
                for &nb in links.iter().take(4) {
                    prefetch(self.vector(nb));
                }
            }
            for (k, &nb) in links.iter().enumerate() {
                if layer == 0
                    && let Some(&ahead) = links.get(k + 4)
                {
                    prefetch(self.vector(ahead));
                }
                if !visited.insert(nb) {
                    continue;
                }
                let d = self.d(q, nb);
                if results.len() < ef || results.peek().is_some_and(|w| d < w.dist) {
                    candidates.push(Reverse(Cand { dist: d, id: nb }));
                    results.push(Cand { dist: d, id: nb });
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        results.into_sorted_vec()
    }

    /// Algorithm 4: from candidates sorted nearest first, keep those closer to the base than to
    /// every one kept already, up to `m`.
    fn select(&self, candidates: &[Cand], m: usize) -> Vec<u32> {
        let mut kept: Vec<Cand> = Vec::with_capacity(m);
        for &c in candidates {
            if kept.len() >= m {
                break;
            }
            let v = self.vector(c.id);
            if kept
                .iter()
                .all(|k| (self.dist)(v, self.vector(k.id)) > c.dist)
            {
                kept.push(c);
            }
        }
        kept.into_iter().map(|c| c.id).collect()
    }

    /// Algorithm 1.
    fn insert(&mut self, i: u32, ef_c: usize, visited: &mut Visited) {
        let level = self.levels[i as usize] as usize;
        if self.n == 0 {
            self.entry = i;
            self.max_level = level;
            self.n = 1;
            return;
        }
        let q: Vec<f32> = self.vector(i).to_vec();
        let mut top = Cand {
            dist: self.d(&q, self.entry),
            id: self.entry,
        };
        for layer in (level + 1..=self.max_level).rev() {
            top = self.greedy(&q, top, layer);
        }
        let mut ep = vec![top];
        for layer in (0..=level.min(self.max_level)).rev() {
            let found = self.search_layer(&q, &ep, ef_c, layer, visited);
            let cap = if layer == 0 { self.m0 } else { self.m };
            let chosen = self.select(&found, self.m);
            self.set_links(i, layer, &chosen);
            for &nb in &chosen {
                let mut links: Vec<u32> = self.links(nb, layer).to_vec();
                if links.len() < cap {
                    links.push(i);
                } else {
                    // Shrink the neighbour's links with the same heuristic.
                    let v = self.vector(nb).to_vec();
                    let mut cands: Vec<Cand> = links
                        .iter()
                        .chain([&i])
                        .map(|&x| Cand {
                            dist: self.d(&v, x),
                            id: x,
                        })
                        .collect();
                    cands.sort();
                    links = self.select(&cands, cap);
                }
                self.set_links(nb, layer, &links);
            }
            ep = found;
        }
        if level > self.max_level {
            self.max_level = level;
            self.entry = i;
        }
        self.n += 1;
    }

    /// The `k` nearest with `ef` candidates (at least `k`).
    pub fn search_ef(&self, query: &[f32], k: usize, ef: usize) -> Vec<Neighbour> {
        if self.n == 0 || k == 0 {
            return Vec::new();
        }
        let mut visited = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.pop())
            .unwrap_or_else(|| Visited::new(self.levels.len()));
        let mut top = Cand {
            dist: self.d(query, self.entry),
            id: self.entry,
        };
        for layer in (1..=self.max_level).rev() {
            top = self.greedy(query, top, layer);
        }
        let found = self.search_layer(query, &[top], ef.max(k), 0, &mut visited);
        if let Ok(mut p) = self.pool.lock() {
            p.push(visited);
        }
        let mut top = TopK::new(k);
        for c in found {
            top.push(c.id, c.dist);
        }
        top.into_vec()
    }

    pub fn set_ef_search(&mut self, ef: usize) {
        self.ef_search = ef.max(1);
    }
}

impl NearestTracks for Hnsw {
    fn len(&self) -> usize {
        self.n
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        self.search_ef(query, k, self.ef_search)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::songs::index::{Exact, recall_at};

    /// Clustered points, like song vectors.
    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        let centres: Vec<f32> = (0..50 * dim).map(|_| r.normal() as f32).collect();
        (0..n)
            .flat_map(|_| {
                let c = r.below(50) as usize;
                (0..dim)
                    .map(|j| centres[c * dim + j] + 0.35 * r.normal() as f32)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn agrees_with_exact_on_seeded_queries() {
        let dim = 16;
        // Queries from the same clusters as the tracks, held out of the index.
        let mut base = clustered(21_000, dim, 1);
        let queries = base.split_off(20_000 * dim);
        let exact = Exact::new(base.clone(), dim);
        let hnsw = Hnsw::build(base.clone(), dim, &HnswConfig::default());
        let truth = exact.search_batch(&queries, 10);
        let got = hnsw.search_batch(&queries, 10);
        let recall = recall_at(&truth, &got, 10);
        assert!(recall >= 0.95, "recall@10 {recall}");
        // Results are sorted and their distances are the true ones.
        for (g, q) in got.iter().zip(queries.chunks_exact(dim)) {
            assert!(g.windows(2).all(|w| w[0].dist <= w[1].dist));
            for n in g {
                let v = &base[n.id as usize * dim..(n.id as usize + 1) * dim];
                assert!((n.dist - crate::songs::distance::l2_portable(q, v)).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn same_seed_same_graph_and_tiny_inputs() {
        let base = clustered(2_000, 8, 3);
        let a = Hnsw::build(base.clone(), 8, &HnswConfig::default());
        let b = Hnsw::build(base, 8, &HnswConfig::default());
        assert_eq!(a.level0, b.level0);
        assert_eq!(a.upper, b.upper);
        let one = Hnsw::build(vec![1.0, 2.0], 2, &HnswConfig::default());
        assert_eq!(
            one.search(&[0.0, 0.0], 5),
            vec![Neighbour { id: 0, dist: 5.0 }]
        );
        let none = Hnsw::build(Vec::new(), 2, &HnswConfig::default());
        assert!(none.search(&[0.0, 0.0], 5).is_empty());
    }
}
