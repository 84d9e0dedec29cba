//! From proto-action to track, and the trained agent as a [`Policy`].
//!
//! The actor's proto-action is a point of song space in [−1, 1] coordinates (each coordinate
//! mapped from the catalogue's range). With one candidate the nearest real track is played;
//! with k, the k nearest are re-ranked by the critic and the best is played (Wolpertinger,
//! Dulac-Arnold et al. 2015). Tracks the episode excludes are skipped over in both cases, so the
//! catalogue's size never limits the action space.

use crate::encoder::data::SongInputs;
use crate::rng::Rng;
use crate::simulator::policy::{anchor, rank_by_plays};
use crate::simulator::{Observation, Policy};
use crate::songs::index::{self, IndexKind, NearestTracks};

use super::nets::{Agent, Projection};

/// Song space in the actor's coordinates, with an index of every track.
pub struct ActionSpace {
    pub dim: usize,
    /// Per coordinate: the catalogue's minimum and 2 / range.
    lo: Vec<f32>,
    scale: Vec<f32>,
    /// Every track in [−1, 1] coordinates, `[tracks, dim]`.
    pub tracks: Vec<f32>,
    index: Box<dyn NearestTracks>,
    /// Tracks by plays in the training split, most played first (`popular_candidates`).
    pub popular: Vec<u32>,
}

impl ActionSpace {
    pub fn new(songs: &SongInputs, kind: &IndexKind) -> ActionSpace {
        let d = songs.dim;
        let mut lo = vec![f32::INFINITY; d];
        let mut hi = vec![f32::NEG_INFINITY; d];
        for row in songs.values.chunks_exact(d) {
            for j in 0..d {
                lo[j] = lo[j].min(row[j]);
                hi[j] = hi[j].max(row[j]);
            }
        }
        let scale: Vec<f32> = lo
            .iter()
            .zip(&hi)
            .map(|(l, h)| if h > l { 2.0 / (h - l) } else { 1.0 })
            .collect();
        let tracks: Vec<f32> = songs
            .values
            .chunks_exact(d)
            .flat_map(|row| {
                (0..d)
                    .map(|j| (row[j] - lo[j]) * scale[j] - 1.0)
                    .collect::<Vec<_>>()
            })
            .collect();
        ActionSpace {
            dim: d,
            index: index::build(kind, tracks.clone(), d),
            lo,
            scale,
            tracks,
            popular: Vec::new(),
        }
    }

    /// Ranks the tracks by their plays in `sample`'s training split, for
    /// `popular_candidates`.
    pub fn with_popularity(mut self, sample: &crate::data::Sample) -> ActionSpace {
        let plays = sample
            .sessions_in(crate::data::Split::Train)
            .flat_map(|s| sample.rows_of(s).iter().map(|r| r.track));
        self.popular = rank_by_plays(self.len(), plays);
        self
    }

    pub fn len(&self) -> usize {
        self.tracks.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Track `t` in the actor's coordinates.
    pub fn track(&self, t: u32) -> &[f32] {
        &self.tracks[t as usize * self.dim..(t as usize + 1) * self.dim]
    }

    /// A song-space point in the actor's coordinates.
    pub fn to_action(&self, song: &[f32]) -> Vec<f32> {
        (0..self.dim)
            .map(|j| (song[j] - self.lo[j]) * self.scale[j] - 1.0)
            .collect()
    }

    /// The `k` nearest allowed tracks of each proto-action (`[n, dim]`), nearest first, then
    /// the `popular` most played tracks and the tracks of `anchored[i]` (when given) that are
    /// allowed and not among them yet. An episode that excludes every track gets the nearest
    /// one regardless.
    pub fn candidates(
        &self,
        protos: &[f32],
        k: usize,
        popular: usize,
        anchored: Option<&[Vec<u32>]>,
        excluded: &[&[u32]],
    ) -> Vec<Vec<u32>> {
        let extra = excluded.iter().map(|e| e.len()).max().unwrap_or(0);
        let found = self.index.search_batch(protos, (k + extra).min(self.len()));
        found
            .iter()
            .zip(excluded)
            .enumerate()
            .map(|(i, (nb, ex))| {
                let mut c: Vec<u32> = nb
                    .iter()
                    .map(|n| n.id)
                    .filter(|t| ex.binary_search(t).is_err())
                    .take(k)
                    .collect();
                let more = self.popular.iter().take(popular);
                let more = more.chain(anchored.map_or(&[][..], |a| &a[i][..]));
                for &t in more {
                    if ex.binary_search(&t).is_err() && !c.contains(&t) {
                        c.push(t);
                    }
                }
                if c.is_empty() {
                    c.push(nb[0].id);
                }
                c
            })
            .collect()
    }

    /// The `n` tracks nearest to each history's anchor (the last track heard out, else the
    /// last played; see [`anchor`]), the anchor itself left out: `anchor_candidates`.
    pub fn anchored(&self, histories: &[&[(u32, u8)]], n: usize) -> Vec<Vec<u32>> {
        if n == 0 {
            return vec![Vec::new(); histories.len()];
        }
        let anchors: Vec<u32> = histories.iter().map(|h| anchor(h)).collect();
        let points: Vec<f32> = anchors
            .iter()
            .flat_map(|&t| self.track(t).iter().copied())
            .collect();
        let found = self.index.search_batch(&points, (n + 1).min(self.len()));
        found
            .iter()
            .zip(&anchors)
            .map(|(nb, &a)| {
                nb.iter()
                    .map(|x| x.id)
                    .filter(|&t| t != a)
                    .take(n)
                    .collect()
            })
            .collect()
    }

    /// One track per proto-action: the nearest allowed one (`k` = 1 and no other
    /// candidates), or the best of the candidates by the agent's critic. `histories` (one per
    /// proto-action) add the agent's `anchor_candidates`; target projections have none.
    pub fn choose(
        &self,
        agent: &Agent,
        obs: &[f32],
        protos: &[f32],
        k: usize,
        excluded: &[&[u32]],
        histories: Option<&[&[(u32, u8)]]>,
    ) -> Vec<u32> {
        let popular = agent.cfg.popular_candidates;
        let anchored = histories
            .filter(|_| agent.cfg.anchor_candidates > 0)
            .map(|h| self.anchored(h, agent.cfg.anchor_candidates));
        let cands = self.candidates(protos, k, popular, anchored.as_deref(), excluded);
        if k == 1 && popular == 0 && anchored.is_none() {
            return cands.iter().map(|c| c[0]).collect();
        }
        // Pad every state's list to the longest (repeating its last candidate) so one batched
        // pass scores them all.
        let k = cands.iter().map(Vec::len).max().unwrap_or(1);
        let mut actions = Vec::with_capacity(cands.len() * k * self.dim);
        for c in &cands {
            for i in 0..k {
                actions.extend_from_slice(self.track(c[i.min(c.len() - 1)]));
            }
        }
        let q = agent.value_candidates(obs, &actions, k);
        cands
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let qs = &q[i * k..i * k + c.len()];
                let best = (0..c.len())
                    .max_by(|&a, &b| qs[a].total_cmp(&qs[b]).then(b.cmp(&a)))
                    .unwrap_or(0);
                c[best]
            })
            .collect()
    }
}

impl Projection for ActionSpace {
    /// The track the policy would play (without exclusions), as an action.
    fn project(&self, agent: &Agent, obs: &[f32], protos: &[f32]) -> Vec<f32> {
        let none: Vec<&[u32]> = vec![&[]; protos.len() / self.dim];
        self.choose(agent, obs, protos, agent.cfg.candidates, &none, None)
            .iter()
            .flat_map(|&t| self.track(t).iter().copied())
            .collect()
    }
}

/// A trained agent acting greedily (no exploration noise).
pub struct AgentPolicy<'a> {
    pub name: String,
    pub agent: &'a Agent,
    pub space: &'a ActionSpace,
    pub candidates: usize,
}

impl Policy for AgentPolicy<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
        let histories: Vec<&[(u32, u8)]> = obs.iter().map(|o| o.history).collect();
        let x = self.agent.observations(&histories, &self.space.tracks, || {
            obs.iter()
                .flat_map(|o| o.state.iter().copied())
                .collect::<Vec<f32>>()
        });
        let protos = self.agent.act(&x);
        let excluded: Vec<&[u32]> = obs.iter().map(|o| o.excluded).collect();
        self.space.choose(
            self.agent,
            &x,
            &protos,
            self.candidates,
            &excluded,
            Some(&histories),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::data::InputTransform;

    fn songs() -> SongInputs {
        // Four tracks on a line in 1-d song space: 0, 1, 2, 4 → actor coordinates −1, −0.5, 0, 1.
        SongInputs {
            dim: 1,
            values: vec![0.0, 1.0, 2.0, 4.0],
            transform: InputTransform::Identity,
        }
    }

    #[test]
    fn actions_are_scaled_to_the_catalogue_range() {
        let s = ActionSpace::new(&songs(), &IndexKind::Exact);
        assert_eq!(s.tracks, vec![-1.0, -0.5, 0.0, 1.0]);
        assert_eq!(s.to_action(&[3.0]), vec![0.5]);
    }

    #[test]
    fn nearest_allowed_candidates() {
        let s = ActionSpace::new(&songs(), &IndexKind::Exact);
        let none: &[u32] = &[];
        let c = s.candidates(&[-0.4, 0.9], 2, 0, None, &[none, &[3]]);
        assert_eq!(c[0], vec![1, 2]);
        // Track 3 is excluded: the two nearest allowed to 0.9 are 2 and 1.
        assert_eq!(c[1], vec![2, 1]);
        let all: &[u32] = &[0, 1, 2, 3];
        assert_eq!(s.candidates(&[0.9], 1, 0, None, &[all]), vec![vec![3]]);
        // The most played tracks join the nearest ones, once each, unless excluded.
        let mut s = s;
        s.popular = vec![3, 0, 1, 2];
        assert_eq!(
            s.candidates(&[-0.4], 2, 2, None, &[none]),
            vec![vec![1, 2, 3, 0]]
        );
        assert_eq!(s.candidates(&[0.9], 1, 2, None, &[&[0]]), vec![vec![3]]);
    }

    #[test]
    fn anchored_candidates_follow_the_last_track_heard_out() {
        let s = ActionSpace::new(&songs(), &IndexKind::Exact);
        // Heard out: tracks 1 and 3, the later one anchors; no track heard out: the last one.
        let heard: &[(u32, u8)] = &[(1, 3), (3, 3), (0, 0)];
        let skipped: &[(u32, u8)] = &[(2, 0), (0, 1)];
        let a = s.anchored(&[heard, skipped], 2);
        assert_eq!(a, vec![vec![2, 1], vec![1, 2]]);
        assert_eq!(s.anchored(&[heard], 0), vec![Vec::<u32>::new()]);
        // They join after the nearest ones, once each, unless excluded.
        let c = s.candidates(&[0.9, 0.9], 1, 0, Some(&a), &[&[1], &[]]);
        assert_eq!(c, vec![vec![3, 2], vec![3, 1, 2]]);
    }
}
