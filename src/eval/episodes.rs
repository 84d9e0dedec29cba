//! The bookkeeping every environment shares: which sessions start episodes, and each episode's
//! history, exclusions, response stream and step count.

use crate::data::{Sample, Split};
use crate::rng::Rng;

use super::env::Observations;

/// The sessions that start episodes: `n` sessions of `split` with at least `steps` plays (their
/// indices in `sample.sessions`), drawn with replacement under `seed`.
pub fn start_sessions(
    sample: &Sample,
    split: Split,
    steps: usize,
    n: usize,
    seed: u64,
) -> Vec<usize> {
    let pool: Vec<usize> = sample
        .sessions
        .iter()
        .enumerate()
        .filter(|(_, s)| s.split == split && s.len as usize >= steps)
        .map(|(i, _)| i)
        .collect();
    if pool.is_empty() {
        return Vec::new();
    }
    let mut rng = Rng::stream(seed, &[0x0053_5441_5254]); // "START"
    (0..n)
        .map(|_| pool[rng.below(pool.len() as u64) as usize])
        .collect()
}

/// The first `steps` plays of session `i` of `sample`: (track, response level).
pub fn first_plays(sample: &Sample, i: usize, steps: usize) -> Vec<(u32, u8)> {
    sample.rows_of(&sample.sessions[i])[..steps]
        .iter()
        .map(|r| (r.track, r.flags.response_level()))
        .collect()
}

/// Each history's tracks, sorted and deduplicated (empty lists when played tracks may be
/// recommended again).
pub fn excluded_tracks(histories: &[Vec<(u32, u8)>], exclude_played: bool) -> Vec<Vec<u32>> {
    histories
        .iter()
        .map(|h| {
            let mut e: Vec<u32> = if exclude_played {
                h.iter().map(|x| x.0).collect()
            } else {
                Vec::new()
            };
            e.sort_unstable();
            e.dedup();
            e
        })
        .collect()
}

/// Episodes running side by side: each one's history (the last `keep` plays), the tracks it
/// may no longer be recommended, its response stream, and the encoded histories while they are
/// current.
pub struct Episodes {
    pub histories: Vec<Vec<(u32, u8)>>,
    pub excluded: Vec<Vec<u32>>,
    rngs: Vec<Rng>,
    keep: usize,
    exclude_played: bool,
    horizon: usize,
    /// Steps played since the reset.
    t: usize,
    /// The encoded histories, `[n, latent]`, when `fresh`.
    states: Vec<f32>,
    fresh: bool,
}

impl Episodes {
    /// No episode yet: histories of `keep` plays, `horizon` steps each, played tracks excluded
    /// when `exclude_played`.
    pub fn empty(exclude_played: bool, keep: usize, horizon: usize) -> Episodes {
        Episodes {
            histories: Vec::new(),
            excluded: Vec::new(),
            rngs: Vec::new(),
            keep,
            exclude_played,
            horizon,
            t: 0,
            states: Vec::new(),
            fresh: false,
        }
    }

    /// Starts the episodes of `starts`; episode `i` draws from stream `[stream, i]` of `seed`.
    pub fn reset(&mut self, starts: Vec<Vec<(u32, u8)>>, seed: u64, stream: u64) {
        self.excluded = excluded_tracks(&starts, self.exclude_played);
        self.rngs = (0..starts.len())
            .map(|i| Rng::stream(seed, &[stream, i as u64]))
            .collect();
        self.histories = starts;
        self.t = 0;
        self.fresh = false;
    }

    pub fn len(&self) -> usize {
        self.histories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histories.is_empty()
    }

    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// Steps played since the reset.
    pub fn steps(&self) -> usize {
        self.t
    }

    /// The episodes as the policies see them, the histories encoded by `encode` (`[n, latent]`)
    /// when they changed since the last call.
    pub fn observe(
        &mut self,
        encode: impl FnOnce(&[Vec<(u32, u8)>]) -> Vec<f32>,
    ) -> Observations<'_> {
        if !self.fresh {
            self.states = encode(&self.histories);
            self.fresh = true;
        }
        Observations {
            states: &self.states,
            histories: &self.histories,
            excluded: &self.excluded,
        }
    }

    /// Episode `i` played `track` and the user answered `level`: advances the history and the
    /// exclusions.
    pub fn record(&mut self, i: usize, track: u32, level: u8) {
        self.fresh = false;
        let h = &mut self.histories[i];
        h.push((track, level));
        let extra = h.len().saturating_sub(self.keep);
        h.drain(..extra);
        if self.exclude_played
            && let Err(pos) = self.excluded[i].binary_search(&track)
        {
            self.excluded[i].insert(pos, track);
        }
    }

    /// Episode `i`'s response stream.
    pub fn rng(&mut self, i: usize) -> &mut Rng {
        &mut self.rngs[i]
    }

    /// Counts a step played by every episode: true when it reached the horizon.
    pub fn advance(&mut self) -> bool {
        self.t += 1;
        self.t >= self.horizon
    }
}
