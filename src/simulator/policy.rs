//! The baselines: random, popularity, logged and content recommendations.

use crate::encoder::data::SongInputs;
use crate::rng::Rng;
use crate::songs::index::{self, IndexKind, NearestTracks};

use super::memory::Transition;
use crate::eval::policy::{Observation, Policy};

/// The track a content recommendation starts from: the last one the user did not skip, or the
/// last one played when every play was skipped.
pub fn anchor(history: &[(u32, u8)]) -> u32 {
    let last = history.last().map_or(0, |h| h.0);
    history
        .iter()
        .rev()
        .find(|h| h.1 == 3)
        .map_or(last, |h| h.0)
}

fn allowed(excluded: &[u32], t: u32) -> bool {
    excluded.binary_search(&t).is_err()
}

/// A uniformly random track of the catalogue.
pub struct RandomPolicy {
    pub tracks: u32,
}

impl Policy for RandomPolicy {
    fn name(&self) -> String {
        "random".into()
    }
    fn act(&mut self, obs: &[Observation], rng: &mut Rng) -> Vec<u32> {
        obs.iter()
            .map(|o| {
                loop {
                    let t = rng.below(self.tracks as u64) as u32;
                    if allowed(o.excluded, t) || o.excluded.len() >= self.tracks as usize {
                        break t;
                    }
                }
            })
            .collect()
    }
}

/// The most played tracks of the training split, most played first, skipping excluded ones.
pub struct PopularityPolicy {
    pub ranked: Vec<u32>,
}

impl PopularityPolicy {
    /// Ranks tracks by their plays in `train`.
    pub fn new(train: &[Transition], tracks: usize) -> PopularityPolicy {
        PopularityPolicy {
            ranked: rank_by_plays(tracks, train.iter().map(|t| t.track)),
        }
    }
}

/// The `tracks` track ids, most played in `plays` first (ties by id).
pub fn rank_by_plays(tracks: usize, plays: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let mut count = vec![0u64; tracks];
    for t in plays {
        count[t as usize] += 1;
    }
    let mut ranked: Vec<u32> = (0..tracks as u32).collect();
    ranked.sort_by_key(|&t| (std::cmp::Reverse(count[t as usize]), t));
    ranked
}

impl Policy for PopularityPolicy {
    fn name(&self) -> String {
        "popularity".into()
    }
    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
        obs.iter()
            .map(|o| {
                *self
                    .ranked
                    .iter()
                    .find(|&&t| allowed(o.excluded, t))
                    .unwrap_or(&self.ranked[0])
            })
            .collect()
    }
}

/// The logged behaviour: the track a user actually played next from the most similar logged
/// state (nearest encoded history among the training transitions), the next nearest when that
/// track is excluded.
pub struct LoggedPolicy {
    index: Box<dyn NearestTracks>,
    tracks: Vec<u32>,
}

impl LoggedPolicy {
    /// `states`: the training transitions' encoded histories `[n, dim]`.
    pub fn new(states: Vec<f32>, dim: usize, train: &[Transition]) -> LoggedPolicy {
        LoggedPolicy {
            index: index::build(&IndexKind::Exact, states, dim),
            tracks: train.iter().map(|t| t.track).collect(),
        }
    }
}

impl Policy for LoggedPolicy {
    fn name(&self) -> String {
        "logged".into()
    }
    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
        let queries: Vec<f32> = obs.iter().flat_map(|o| o.state.iter().copied()).collect();
        let found = self.index.search_batch(&queries, 32);
        obs.iter()
            .zip(found)
            .map(|(o, nb)| {
                let tracks = nb.iter().map(|n| self.tracks[n.id as usize]);
                let first = self.tracks[nb[0].id as usize];
                tracks
                    .clone()
                    .find(|&t| allowed(o.excluded, t))
                    .unwrap_or(first)
            })
            .collect()
    }
}

/// Content: the track nearest in song space to the last track the user did not skip (the
/// last track of the history when all were skipped).
pub struct ContentPolicy {
    index: Box<dyn NearestTracks>,
    songs: SongInputs,
}

impl ContentPolicy {
    pub fn new(songs: &SongInputs) -> ContentPolicy {
        ContentPolicy {
            index: index::build(
                &IndexKind::Exact,
                songs.catalogue_values().to_vec(),
                songs.dim,
            ),
            songs: songs.clone(),
        }
    }
}

impl Policy for ContentPolicy {
    fn name(&self) -> String {
        "content".into()
    }
    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
        let queries: Vec<f32> = obs
            .iter()
            .flat_map(|o| self.songs.song(anchor(o.history)).iter().copied())
            .collect();
        let k = obs.iter().map(|o| o.excluded.len()).max().unwrap_or(0) + 1;
        let found = self.index.search_batch(&queries, k);
        obs.iter()
            .zip(found)
            .map(|(o, nb)| {
                nb.iter()
                    .map(|n| n.id)
                    .find(|&t| allowed(o.excluded, t))
                    .unwrap_or(nb[0].id)
            })
            .collect()
    }
}
