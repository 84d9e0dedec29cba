//! Groups of bit-identical vectors, indexed once. Song spaces and simulator keys hold many exact
//! copies: every track without a vector of its own gets the same fallback centroid, and every
//! simulator key made of such tracks and the same response levels is the same key. HNSW's
//! neighbour-selection heuristic (Malkov & Yashunin 2018, Algorithm 4) drops a candidate that is
//! closer to a link already kept than to the base, so a group of copies keeps about one link
//! into the graph and a search sees only part of it; and among copies, which ones come back is
//! an accident of the walk, where exact search returns the lowest ids.
//!
//! [`Dedup`] indexes one representative per group (the lowest id) in any inner backend, and at
//! query time expands each group found into its members at the same distance. Results keep the
//! [`NearestTracks`] contract: `k` of them, nearest first, ties broken by id. With an exact inner
//! index they are exactly the brute-force answer (see [`Dedup::expand`]).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::bytes::{Reader, Writer};
use super::nearest::{NearestTracks, Neighbour, TopK};

/// A vector compared and hashed by its bits, so that only identical copies group together
/// (0.0 and −0.0 stay apart; they are at the same distance from everything anyway).
struct Bits<'a>(&'a [f32]);

impl Bits<'_> {
    fn bits(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().map(|x| x.to_bits())
    }
}

impl PartialEq for Bits<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.bits().eq(o.bits())
    }
}
impl Eq for Bits<'_> {}
impl Hash for Bits<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        for b in self.bits() {
            h.write_u32(b);
        }
    }
}

/// An index over the distinct vectors of a set, answering for every vector of the set.
pub struct Dedup<I> {
    inner: I,
    /// Members of group `g` are `members[starts[g]..starts[g + 1]]`, ascending; the first is the
    /// representative. Groups are numbered by their representative's id, as the inner index is.
    starts: Vec<u32>,
    members: Vec<u32>,
    dim: usize,
}

impl<I: NearestTracks> Dedup<I> {
    /// Groups `vectors` (`[n, dim]`, row-major) by bits and builds the inner index over one
    /// representative per group (`[groups, dim]`, in order of first appearance) with `make`.
    pub fn build(vectors: Vec<f32>, dim: usize, make: impl FnOnce(Vec<f32>, usize) -> I) -> Self {
        let dim = dim.max(1);
        let n = vectors.len() / dim;
        // Group numbers in order of first appearance: the same input gives the same groups
        // whatever the hasher's seed.
        let mut group_of = Vec::with_capacity(n);
        let mut reps: Vec<u32> = Vec::new();
        {
            let mut seen: HashMap<Bits, u32> = HashMap::with_capacity(n);
            for (i, v) in vectors.chunks_exact(dim).enumerate() {
                let next = reps.len() as u32;
                let g = *seen.entry(Bits(v)).or_insert(next);
                if g == next {
                    reps.push(i as u32);
                }
                group_of.push(g);
            }
        }
        // Counting sort of the ids by group; ids enter in ascending order, so each group's
        // members stay ascending.
        let mut starts = vec![0u32; reps.len() + 1];
        for &g in &group_of {
            starts[g as usize + 1] += 1;
        }
        for g in 0..reps.len() {
            starts[g + 1] += starts[g];
        }
        let mut fill = starts.clone();
        let mut members = vec![0u32; n];
        for (i, &g) in group_of.iter().enumerate() {
            members[fill[g as usize] as usize] = i as u32;
            fill[g as usize] += 1;
        }
        let distinct = if reps.len() == n {
            vectors
        } else {
            let mut d = Vec::with_capacity(reps.len() * dim);
            for &r in &reps {
                d.extend_from_slice(&vectors[r as usize * dim..(r as usize + 1) * dim]);
            }
            d
        };
        Dedup {
            inner: make(distinct, dim),
            starts,
            members,
            dim,
        }
    }

    /// Appends the groups, then the inner index through `inner` (the saved index).
    pub(super) fn encode(&self, w: &mut Writer, inner: impl FnOnce(&I, &mut Writer)) {
        w.u64(self.dim as u64);
        w.u32s(&self.starts);
        w.u32s(&self.members);
        inner(&self.inner, w);
    }

    /// Reads what [`Dedup::encode`] wrote; `None` when the groups do not fit together.
    pub(super) fn decode(
        r: &mut Reader,
        inner: impl FnOnce(&mut Reader) -> Option<I>,
    ) -> Option<Self> {
        let dim = r.usize()?;
        let (starts, members) = (r.u32s()?, r.u32s()?);
        let inner = inner(r)?;
        let n = members.len();
        let fits = starts.first() == Some(&0)
            && starts.last().map(|&l| l as usize) == Some(n)
            && starts.windows(2).all(|w| w[0] < w[1])
            && members.iter().all(|&m| (m as usize) < n)
            && inner.len() == starts.len() - 1
            && inner.dim() == dim;
        fits.then_some(Dedup {
            inner,
            starts,
            members,
            dim,
        })
    }

    /// Number of distinct vectors (groups).
    pub fn groups(&self) -> usize {
        self.starts.len() - 1
    }

    /// The index over the representatives (ids are group numbers).
    pub fn inner(&self) -> &I {
        &self.inner
    }

    /// The `k` nearest members of the groups `found` (the inner index's answer, group ids).
    ///
    /// Why `k` groups are enough: a member `x` of the true top `k` (by distance, then id) has a
    /// representative with the same distance and an id no larger, and every group ranked before
    /// that representative puts its own representative before `x`; fewer than `k` items come
    /// before `x`, so its group is among the `k` nearest groups. Only a group's first `k`
    /// members can enter, since its earlier members tie with the later ones at a smaller id.
    pub fn expand(&self, found: &[Neighbour], k: usize) -> Vec<Neighbour> {
        let mut top = TopK::new(k);
        for nb in found {
            let g = nb.id as usize;
            let group = &self.members[self.starts[g] as usize..self.starts[g + 1] as usize];
            for &id in group.iter().take(k) {
                top.push(id, nb.dist);
            }
        }
        top.into_vec()
    }

    /// [`NearestTracks::search`] with another search of the inner index (such as an HNSW search
    /// with its own beam): `search(inner, query, groups wanted)`.
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        search: impl Fn(&I, &[f32], usize) -> Vec<Neighbour>,
    ) -> Vec<Neighbour> {
        self.expand(&search(&self.inner, query, k), k)
    }
}

impl<I: NearestTracks> NearestTracks for Dedup<I> {
    fn len(&self) -> usize {
        self.members.len()
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn search(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        self.expand(&self.inner.search(query, k), k)
    }

    fn search_batch(&self, queries: &[f32], k: usize) -> Vec<Vec<Neighbour>> {
        self.inner
            .search_batch(queries, k)
            .iter()
            .map(|found| self.expand(found, k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use crate::songs::hnsw::{Hnsw, HnswConfig};
    use crate::songs::index::{self, Exact, IndexKind, recall_at};

    #[test]
    fn groups_copies_and_expands_them_in_id_order() {
        // 1-d points 3, 1, 3, 0, 3: groups {0, 2, 4} (3), {1} (1), {3} (0).
        let d = Dedup::build(vec![3.0, 1.0, 3.0, 0.0, 3.0], 1, Exact::new);
        assert_eq!((d.len(), d.groups()), (5, 3));
        assert_eq!(d.inner().len(), 3);
        // From 2.9: the three 3s at 0.01 (ids 0, 2, 4), then 1 at 3.61, then 0 at 8.41.
        let got: Vec<u32> = d.search(&[2.9], 4).iter().map(|n| n.id).collect();
        assert_eq!(got, vec![0, 2, 4, 1]);
        let two = d.search(&[2.9], 2);
        assert_eq!(two.iter().map(|n| n.id).collect::<Vec<_>>(), vec![0, 2]);
        assert!((two[1].dist - 0.01).abs() < 1e-5);
        // From 0.4: 0 (0.16), 1 (0.36), then the 3s.
        let got: Vec<u32> = d.search(&[0.4], 5).iter().map(|n| n.id).collect();
        assert_eq!(got, vec![3, 1, 0, 2, 4]);
        assert_eq!(d.search(&[0.4], 9).len(), 5);
        assert!(d.search(&[0.4], 0).is_empty());
        let empty = Dedup::build(Vec::new(), 3, Exact::new);
        assert!(empty.is_empty() && empty.search(&[0.0; 3], 4).is_empty());
    }

    /// 1,000 distinct points and 150 points copied 20 times each (3,000 copies), shuffled, as
    /// simulator keys built from fallback song vectors are; queries near the copied points.
    fn with_copies(dim: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut r = Rng::new(seed);
        let mut rows: Vec<Vec<f32>> = (0..1_000)
            .map(|_| (0..dim).map(|_| r.normal() as f32).collect())
            .collect();
        let copied: Vec<Vec<f32>> = (0..150)
            .map(|_| (0..dim).map(|_| r.normal() as f32).collect())
            .collect();
        for c in &copied {
            rows.extend(std::iter::repeat_n(c.clone(), 20));
        }
        for i in (1..rows.len()).rev() {
            rows.swap(i, r.below(i as u64 + 1) as usize);
        }
        let queries = (0..300)
            .flat_map(|q| {
                let c = &copied[q % copied.len()];
                c.iter()
                    .map(|x| x + 0.3 * r.normal() as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        (rows.concat(), queries)
    }

    #[test]
    fn exact_inner_gives_the_brute_force_answer_ties_included() {
        let dim = 8;
        let (base, queries) = with_copies(dim, 7);
        let exact = Exact::new(base.clone(), dim);
        let d = Dedup::build(base, dim, Exact::new);
        assert_eq!(d.groups(), 1_150);
        for q in queries.chunks_exact(dim) {
            // k 30 cuts through a group of 20 copies, so the tie break decides the last ranks.
            let want = exact.search(q, 30);
            let got = d.search(q, 30);
            assert_eq!(
                want.iter().map(|n| n.id).collect::<Vec<_>>(),
                got.iter().map(|n| n.id).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn hnsw_over_copies_finds_the_exact_top_30() {
        // Before grouping, HNSW over these points (Hnsw::build, default config) found 0.52 of
        // the exact top 30: only the copies its walk reached, often not the lowest ids. Grouped,
        // each copied point is one node and its copies come back in id order.
        let dim = 8;
        let (base, queries) = with_copies(dim, 11);
        let truth = Exact::new(base.clone(), dim).search_batch(&queries, 30);
        let cfg = HnswConfig::default();
        let hnsw = index::build(&IndexKind::Hnsw(cfg.clone()), base.clone(), dim);
        let got = hnsw.search_batch(&queries, 30);
        let recall = recall_at(&truth, &got, 30);
        assert!(recall >= 0.99, "recall@30 {recall}");
        for g in &got {
            assert_eq!(g.len(), 30);
            assert!(
                g.windows(2)
                    .all(|w| (w[0].dist, w[0].id) < (w[1].dist, w[1].id))
            );
        }
        // The same answers through search_with and the inner graph's own beam.
        let d = Dedup::build(base, dim, |v, dim| Hnsw::build(v, dim, &cfg));
        let q = &queries[..dim];
        assert_eq!(
            d.search_with(q, 30, |h, q, k| h.search_ef(q, k, cfg.ef_search)),
            got[0]
        );
    }
}
