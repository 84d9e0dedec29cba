//! Brute-force nearest tracks: every item against every query, the dot products computed from
//! items laid out once in tiles.
//!
//! A general sgemm packs the items into its own layout on every call, and the caller must clear
//! and hold a block of dot products: for the one query of a Python environment step that was
//! most of the step. Here the items are stored in the packed layout (tiles of [`LANES`] items,
//! dimension-major), a few queries share each pass over a tile, and the dot products are
//! compared with the queries' bounds while still in registers.
//!
//! Each dot product is a multiply-add chain from zero over the dimensions in order (fused where
//! the processor has FMA), the same on every instruction level with FMA, so a query's answer
//! depends neither on the other queries of its batch nor on how a batch is split across
//! threads. Items are offered to each query's top-k in id order.

use super::nearest::{NearestTracks, Neighbour, TopK};
use crate::simd::{LANES, Level, level, madd};

/// Queries sharing one pass over a tile (their accumulators stay in registers).
const GROUP: usize = 4;
/// Bytes of tiles per block: a block is scanned by every query group while it stays in the
/// first-level data cache (half of a 48 KiB one).
const BLOCK_BYTES: usize = 24 * 1024;
/// Queries per thread from which a batch is split by queries: eight groups share each block of
/// items (fewer are split by items).
const TASK_QUERIES: usize = 8 * GROUP;
/// Tiles each thread scans at least before a search is split by items: below that, handing the
/// work to another thread costs about what it saves.
const MIN_TILES_PER_THREAD: usize = 1024;

/// Brute-force search over tiled items.
pub struct Exact {
    /// `[tiles, dim, LANES]`: item `t * LANES + l`, coordinate `j` at `(t * dim + j) * LANES + l`;
    /// the last tile padded with zeros.
    tiles: Vec<f32>,
    /// Squared norms, `[tiles * LANES]`; infinite for padding, which therefore never enters.
    norms: Vec<f32>,
    n: usize,
    dim: usize,
    level: Level,
}

impl Exact {
    /// The index of `vectors` (`[n, dim]`, row-major).
    pub fn new(vectors: Vec<f32>, dim: usize) -> Exact {
        let n = vectors.len().checked_div(dim).unwrap_or(0);
        let n_tiles = n.div_ceil(LANES);
        let mut tiles = vec![0.0f32; n_tiles * dim * LANES];
        let mut norms = vec![f32::INFINITY; n_tiles * LANES];
        for (i, v) in vectors.chunks_exact(dim.max(1)).take(n).enumerate() {
            let (t, l) = (i / LANES, i % LANES);
            for (j, &x) in v.iter().enumerate() {
                tiles[(t * dim + j) * LANES + l] = x;
            }
            norms[i] = v.iter().map(|x| x * x).sum();
        }
        Exact {
            tiles,
            norms,
            n,
            dim,
            level: level(),
        }
    }

    /// Pushes the items of `tiles` that enter the top-k of the queries of `group` into `tops`.
    fn scan_group(&self, group: &Group, tops: &mut [TopK], tiles: std::ops::Range<usize>) {
        let scan = Scan {
            tiles: &self.tiles,
            norms: &self.norms,
            dim: self.dim,
            group,
        };
        match self.level {
            // SAFETY: `simd::level` chose these only where the processor reported the features.
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => unsafe { scan_avx512(&scan, tops, tiles) },
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => unsafe { scan_avx2(&scan, tops, tiles) },
            Level::Portable => scan.run_group::<false, 2>(tops, tiles),
        }
    }

    /// The top-k of each query of `queries` (`[m, dim]`) among the items of `tiles`, on this
    /// thread.
    fn scan(&self, queries: &[f32], k: usize, tiles: std::ops::Range<usize>) -> Vec<TopK> {
        let d = self.dim;
        let mut tops: Vec<TopK> = (0..queries.len() / d).map(|_| TopK::new(k)).collect();
        let groups: Vec<Group> = queries
            .chunks(GROUP * d)
            .map(|g| Group::new(g, d))
            .collect();
        let block_tiles = (BLOCK_BYTES / (4 * LANES * d.max(1))).max(4);
        for start in tiles.clone().step_by(block_tiles) {
            let block = start..(start + block_tiles).min(tiles.end);
            for (group, t) in groups.iter().zip(tops.chunks_mut(GROUP)) {
                self.scan_group(group, t, block.clone());
            }
        }
        tops
    }

    /// The answers to `queries` (`[m, dim]`) on this thread.
    fn search_groups(&self, queries: &[f32], k: usize) -> Vec<Vec<Neighbour>> {
        let n_tiles = self.norms.len() / LANES;
        let tops = self.scan(queries, k, 0..n_tiles);
        tops.into_iter().map(TopK::into_vec).collect()
    }
}

/// Up to [`GROUP`] queries scanned together.
struct Group {
    /// `[GROUP, dim]`, zero rows past the queries.
    qs: Vec<f32>,
    /// Their squared norms.
    qnorm: [f32; GROUP],
}

impl Group {
    fn new(queries: &[f32], dim: usize) -> Group {
        let mut qs = vec![0.0f32; GROUP * dim];
        qs[..queries.len()].copy_from_slice(queries);
        let mut qnorm = [0.0f32; GROUP];
        for (q, row) in queries.chunks_exact(dim).enumerate() {
            qnorm[q] = row.iter().map(|x| x * x).sum();
        }
        Group { qs, qnorm }
    }
}

impl NearestTracks for Exact {
    fn len(&self) -> usize {
        self.n
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        if self.dim == 0 {
            return Vec::new();
        }
        self.search_groups(&query[..self.dim], k)
            .pop()
            .unwrap_or_default()
    }

    /// Distances as ‖x‖² − 2·q·x + ‖q‖². With several threads in the current rayon pool a
    /// large batch is split by queries; a small one (a single query too) by items, one
    /// contiguous range per thread scanned for every query, the ranges' top-k then merged in
    /// item order. A top-k keeps the k smallest (distance, id) pairs, so the answer is the one
    /// a single thread gives, to the bit.
    fn search_batch(&self, queries: &[f32], k: usize) -> Vec<Vec<Neighbour>> {
        use rayon::prelude::*;
        let d = self.dim;
        if d == 0 {
            return Vec::new();
        }
        let queries = &queries[..queries.len() / d * d];
        let threads = rayon::current_num_threads();
        if threads >= 2 && queries.len() >= threads * TASK_QUERIES * d {
            let per = queries.len().div_ceil(threads * d) * d;
            let parts: Vec<Vec<Vec<Neighbour>>> = queries
                .par_chunks(per)
                .map(|q| self.search_groups(q, k))
                .collect();
            return parts.into_iter().flatten().collect();
        }
        let n_tiles = self.norms.len() / LANES;
        let threads = threads.min(n_tiles / MIN_TILES_PER_THREAD);
        if threads < 2 {
            return self.search_groups(queries, k);
        }
        let ranges: Vec<std::ops::Range<usize>> = (0..threads)
            .map(|i| i * n_tiles / threads..(i + 1) * n_tiles / threads)
            .collect();
        let mut parts: Vec<Vec<TopK>> = ranges
            .into_par_iter()
            .map(|r| self.scan(queries, k, r))
            .collect();
        let mut merged = parts.remove(0);
        for part in parts {
            for (top, later) in merged.iter_mut().zip(part) {
                for nb in later.into_vec() {
                    top.push(nb.id, nb.dist);
                }
            }
        }
        merged.into_iter().map(TopK::into_vec).collect()
    }
}

/// One query group's pass over the tiles.
struct Scan<'a> {
    tiles: &'a [f32],
    norms: &'a [f32],
    dim: usize,
    group: &'a Group,
}

impl Scan<'_> {
    /// Dot products of the group's first `G` queries with the `T` tiles from tile `t0`:
    /// `acc[g][t][l]`, with [`madd`] (vector FMA instructions where the caller enabled them).
    /// `G × T` independent accumulators keep the FMA units busy where a single chain would wait
    /// on each result.
    #[inline(always)]
    fn dots<const FMA: bool, const G: usize, const T: usize>(
        &self,
        t0: usize,
    ) -> [[[f32; LANES]; T]; G] {
        let d = self.dim;
        let tiles = &self.tiles[t0 * d * LANES..(t0 + T) * d * LANES];
        let qs = &self.group.qs[..G * d];
        let mut acc = [[[0.0f32; LANES]; T]; G];
        for j in 0..d {
            let mut x = [[0.0f32; LANES]; T];
            for (t, xt) in x.iter_mut().enumerate() {
                // SAFETY: (t * d + j + 1) * LANES ≤ T * d * LANES = tiles.len().
                let row =
                    unsafe { tiles.get_unchecked((t * d + j) * LANES..(t * d + j + 1) * LANES) };
                xt.copy_from_slice(row);
            }
            for (g, ag) in acc.iter_mut().enumerate() {
                // SAFETY: g * d + j < G * d = qs.len().
                let s = unsafe { *qs.get_unchecked(g * d + j) };
                for (at, xt) in ag.iter_mut().zip(&x) {
                    for l in 0..LANES {
                        at[l] = madd::<FMA>(at[l], s, xt[l]);
                    }
                }
            }
        }
        acc
    }

    /// Pushes every item of `tiles` that beats the bound of one of the group's `G` queries into
    /// its top-k, in item order; `T` tiles at a time.
    #[inline(always)]
    fn run<const FMA: bool, const G: usize, const T: usize>(
        &self,
        tops: &mut [TopK],
        tiles: std::ops::Range<usize>,
    ) {
        let mut t0 = tiles.start;
        while t0 + T <= tiles.end {
            let acc = self.dots::<FMA, G, T>(t0);
            for (t, _) in acc[0].iter().enumerate() {
                self.enter(tops, t0 + t, |g| acc[g][t]);
            }
            t0 += T;
        }
        for t in t0..tiles.end {
            let acc = self.dots::<FMA, G, 1>(t);
            self.enter(tops, t, |g| acc[g][0]);
        }
    }

    /// Offers the items of tile `t`, with the dot products `dots(g)` of query `g`, to the tops.
    #[inline(always)]
    fn enter(&self, tops: &mut [TopK], t: usize, dots: impl Fn(usize) -> [f32; LANES]) {
        let norms: &[f32; LANES] = self.norms[t * LANES..(t + 1) * LANES]
            .try_into()
            .expect("norms hold LANES floats per tile");
        for (g, top) in tops.iter_mut().enumerate() {
            let qnorm = self.group.qnorm[g];
            let dot = dots(g);
            // Compare ‖x‖² − 2·q·x against the bound less ‖q‖²: one subtraction saved per item,
            // and the bound re-read only when something enters. The margin covers the two
            // roundings, so the filter never turns away an item whose distance would enter:
            // `push` decides on the distance itself.
            let pre = |top: &TopK| {
                let b = top.bound();
                b - qnorm + 4.0 * f32::EPSILON * (b.abs() + qnorm)
            };
            let mut bound = pre(top);
            let mut partial = [0.0f32; LANES];
            let mut any = false;
            for l in 0..LANES {
                partial[l] = norms[l] - 2.0 * dot[l];
                any |= partial[l] < bound;
            }
            if !any {
                continue;
            }
            for (l, &p) in partial.iter().enumerate() {
                if p < bound {
                    top.push((t * LANES + l) as u32, (p + qnorm).max(0.0));
                    bound = pre(top);
                }
            }
        }
    }

    /// [`run`](Self::run) for the group's size.
    #[inline(always)]
    fn run_group<const FMA: bool, const T: usize>(
        &self,
        tops: &mut [TopK],
        tiles: std::ops::Range<usize>,
    ) {
        match tops.len() {
            1 => self.run::<FMA, 1, T>(tops, tiles),
            2 => self.run::<FMA, 2, T>(tops, tiles),
            3 => self.run::<FMA, 3, T>(tops, tiles),
            _ => self.run::<FMA, GROUP, T>(tops, tiles),
        }
    }
}

/// Four tiles in flight: with four queries, 16 of the 32 vector registers accumulate.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn scan_avx512(scan: &Scan, tops: &mut [TopK], tiles: std::ops::Range<usize>) {
    scan.run_group::<true, 4>(tops, tiles)
}

/// Two tiles in flight: a tile takes two of the 16 vector registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn scan_avx2(scan: &Scan, tops: &mut [TopK], tiles: std::ops::Range<usize>) {
    scan.run_group::<true, 2>(tops, tiles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::songs::index::recall_at;

    fn points(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        (0..n * dim).map(|_| r.normal() as f32).collect()
    }

    /// The `k` nearest by distances computed in f64 from the differences.
    fn brute(base: &[f32], q: &[f32], dim: usize, k: usize) -> Vec<Neighbour> {
        let mut top = TopK::new(k);
        for (i, v) in base.chunks_exact(dim).enumerate() {
            let d: f64 = v.iter().zip(q).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
            top.push(i as u32, d as f32);
        }
        top.into_vec()
    }

    #[test]
    fn every_instruction_level_the_processor_has_gives_the_same_answers() {
        let dim = 37;
        let base = points(3_001, dim, 4);
        let q = points(23 * dim, 1, 5);
        let levels = crate::simd::levels();
        let answers: Vec<Vec<Vec<Neighbour>>> = levels
            .iter()
            .map(|&level| {
                let mut e = Exact::new(base.clone(), dim);
                e.level = level;
                e.search_batch(&q, 15)
            })
            .collect();
        // The FMA levels sum alike, to the bit; the portable one rounds each product first.
        for a in &answers[1..] {
            assert_eq!(a, &answers[answers.len() - 1]);
        }
        assert!(recall_at(&answers[0], &answers[answers.len() - 1], 15) >= 0.99);
    }

    #[test]
    fn any_thread_count_gives_the_same_answers() {
        // 70,000 items: split by items on up to 4 threads. Copies make ties at equal distances
        // across the threads' ranges.
        let dim = 4;
        let mut base = points(40_000, dim, 6);
        base.extend(base[..30_000 * dim].to_vec());
        let e = Exact::new(base, dim);
        let q = points(9, dim, 7);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| (e.search_batch(&q, 25), e.search_batch(&q[..dim], 25)))
        };
        let one = on(1);
        for threads in [2, 3, 5] {
            assert_eq!(on(threads), one, "{threads} threads");
        }
    }

    #[test]
    fn a_hand_example_on_a_line() {
        // Points 0, 1, 3, 7. From 2.6 the order is 3 (0.16), 1 (2.56), 0 (6.76).
        let e = Exact::new(vec![0.0, 1.0, 3.0, 7.0], 1);
        let got = e.search(&[2.6], 3);
        assert_eq!(got.iter().map(|n| n.id).collect::<Vec<_>>(), vec![2, 1, 0]);
        assert!((got[0].dist - 0.16).abs() < 1e-5);
        assert_eq!(
            e.search(&[2.6], 9).len(),
            4,
            "k past the items gives every item"
        );
        assert!(e.search(&[2.6], 0).is_empty());
        assert!(
            Exact::new(Vec::new(), 3)
                .search_batch(&[0.0; 6], 2)
                .iter()
                .all(Vec::is_empty)
        );
    }

    #[test]
    fn batches_agree_with_single_queries_to_the_bit_and_with_f64_distances() {
        // 9,001 items: several blocks and a partial last tile; 70 queries: partial groups, and
        // enough for a parallel split.
        let dim = 12;
        let base = points(9_001, dim, 1);
        let e = Exact::new(base.clone(), dim);
        let q = points(70 * 40, dim, 2);
        let batch = e.search_batch(&q, 10);
        assert_eq!(batch.len(), 70 * 40);
        for (qi, b) in q.chunks_exact(dim).zip(&batch) {
            assert_eq!(&e.search(qi, 10), b, "a query's answer is its own");
        }
        let truth: Vec<Vec<Neighbour>> = q
            .chunks_exact(dim)
            .take(70)
            .map(|qi| brute(&base, qi, dim, 10))
            .collect();
        // The norm form rounds differently from f64, so a near-tie at rank 10 may swap.
        assert!(recall_at(&truth, &batch[..70], 10) >= 0.995);
        for (t, b) in truth.iter().zip(&batch) {
            assert_eq!(t[0].id, b[0].id);
            assert!((t[0].dist - b[0].dist).abs() < 1e-3 * t[0].dist.max(1.0));
        }
    }
}
