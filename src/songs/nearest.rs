//! The nearest-track interface every index backend implements, and the running top-k they
//! share.

/// A track found near a query: its index in the song space and the squared L2 distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    pub id: u32,
    pub dist: f32,
}

/// Finds the nearest tracks to points of song space.
pub trait NearestTracks: Send + Sync {
    /// Number of indexed tracks.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Dimension of the vectors.
    fn dim(&self) -> usize;
    /// The `k` nearest tracks to `query` (`[dim]`), nearest first.
    fn search(&self, query: &[f32], k: usize) -> Vec<Neighbour>;
    /// The `k` nearest tracks for each row of `queries` (`[n, dim]`, row-major).
    fn search_batch(&self, queries: &[f32], k: usize) -> Vec<Vec<Neighbour>> {
        queries
            .chunks_exact(self.dim())
            .map(|q| self.search(q, k))
            .collect()
    }
}

/// The `k` smallest (distance, id) pairs seen, kept sorted.
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    items: Vec<Neighbour>,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    /// The distance a candidate must beat to enter.
    #[inline]
    pub fn bound(&self) -> f32 {
        if self.k == 0 {
            f32::NEG_INFINITY
        } else if self.items.len() < self.k {
            f32::INFINITY
        } else {
            self.items[self.k - 1].dist
        }
    }

    #[inline]
    pub fn push(&mut self, id: u32, dist: f32) {
        // NaN distances compare as unordered and are turned away too.
        if self.k == 0 || dist.partial_cmp(&self.bound()) != Some(std::cmp::Ordering::Less) {
            return;
        }
        // Ties broken by id, so results do not depend on scan order.
        let at = self.items.partition_point(|n| (n.dist, n.id) < (dist, id));
        self.items.insert(at, Neighbour { id, dist });
        self.items.truncate(self.k);
    }

    pub fn into_vec(self) -> Vec<Neighbour> {
        self.items
    }
}
