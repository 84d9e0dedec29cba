//! From proto-action to track, and the trained agent as a [`Policy`].
//!
//! The actor's proto-action is a point of song space in [−1, 1] coordinates (each coordinate
//! mapped from the catalogue's range). With one candidate the nearest real track is played;
//! with k, the k nearest are re-ranked by the critic and the best is played (Wolpertinger,
//! Dulac-Arnold et al. 2015). Tracks the episode excludes are skipped over in both cases, so the
//! catalogue's size never limits the action space. With `skip_model_weight`, the training
//! simulator's skip model joins the critic in the re-ranking.

use std::path::Path;

use crate::encoder::data::SongInputs;
use crate::eval::policy::{Observation, Policy};
use crate::rng::Rng;
use crate::simulator::policy::{anchor, rank_by_plays};
use crate::songs::index::{self, IndexKind, NearestTracks};
use crate::songs::saved_index;

use super::config::{AgentConfig, EncoderMode};
use super::nets::{Agent, Projection};

/// Song space in the actor's coordinates, with an index of every track.
pub struct ActionSpace {
    pub dim: usize,
    /// Per coordinate: the catalogue's minimum and 2 / range.
    lo: Vec<f32>,
    scale: Vec<f32>,
    /// Every track in [−1, 1] coordinates, `[tracks, dim]`.
    pub tracks: Vec<f32>,
    /// The tracks the index holds and a policy may recommend: the first this many
    /// ([`SongInputs::catalogue`]).
    catalogue: usize,
    index: Box<dyn NearestTracks>,
    /// Tracks by plays in the training split, most played first (`popular_candidates`).
    pub popular: Vec<u32>,
    /// The tracks' song vectors as the encoder reads them (the skip model reads them too).
    songs: SongInputs,
}

/// What an agent acting in an episode knows of each state beyond its observation: the
/// history (the anchor candidates and the skip model read it) and the encoder's state (the
/// skip model reads it), `[n, state]`.
pub struct Heard<'a> {
    pub histories: &'a [&'a [(u32, u8)]],
    pub states: &'a [f32],
}

impl ActionSpace {
    pub fn new(songs: &SongInputs, kind: &IndexKind) -> ActionSpace {
        ActionSpace::with_index(songs, |tracks, d| index::build(kind, tracks, d))
    }

    /// [`ActionSpace::new`] with the track index read from (or saved to) `path` when it is an
    /// HNSW index ([`saved_index::build_saved`]): serving a run does not rebuild its graph.
    pub fn new_saved(songs: &SongInputs, kind: &IndexKind, path: &Path) -> ActionSpace {
        ActionSpace::with_index(songs, |tracks, d| {
            saved_index::build_saved(kind, tracks, d, path)
        })
    }

    fn with_index(
        songs: &SongInputs,
        index: impl FnOnce(Vec<f32>, usize) -> Box<dyn NearestTracks>,
    ) -> ActionSpace {
        let d = songs.dim;
        let mut lo = vec![f32::INFINITY; d];
        let mut hi = vec![f32::NEG_INFINITY; d];
        // The catalogue only: tracks heard in histories only are never recommended.
        for row in songs.catalogue_values().chunks_exact(d) {
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
        // Every track, in histories too; the index holds the catalogue only.
        let tracks: Vec<f32> = songs
            .values
            .chunks_exact(d)
            .flat_map(|row| {
                (0..d)
                    .map(|j| (row[j] - lo[j]) * scale[j] - 1.0)
                    .collect::<Vec<_>>()
            })
            .collect();
        let catalogue = songs.catalogue_len();
        ActionSpace {
            dim: d,
            index: index(tracks[..catalogue * d].to_vec(), d),
            catalogue,
            lo,
            scale,
            tracks,
            popular: Vec::new(),
            songs: songs.clone(),
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

    /// The tracks a policy may recommend.
    pub fn len(&self) -> usize {
        self.catalogue
    }

    pub fn is_empty(&self) -> bool {
        self.catalogue == 0
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
    /// candidates), or the best of the candidates by [`scores`](Self::scores). `heard` (one
    /// history and state per proto-action) adds the agent's `anchor_candidates` and its skip
    /// model; target projections have none.
    pub fn choose(
        &self,
        agent: &Agent,
        obs: &[f32],
        protos: &[f32],
        k: usize,
        excluded: &[&[u32]],
        heard: Option<&Heard>,
    ) -> Vec<u32> {
        let popular = agent.cfg.popular_candidates;
        let anchored = heard
            .filter(|_| agent.cfg.anchor_candidates > 0)
            .map(|h| self.anchored(h.histories, agent.cfg.anchor_candidates));
        let cands = self.candidates(protos, k, popular, anchored.as_deref(), excluded);
        if k == 1 && popular == 0 && anchored.is_none() {
            return cands.iter().map(|c| c[0]).collect();
        }
        let scores = self.scores(agent, obs, &cands, heard);
        cands
            .iter()
            .zip(&scores)
            .map(|(c, s)| {
                let best = (0..c.len())
                    .max_by(|&a, &b| s[a].total_cmp(&s[b]).then(b.cmp(&a)))
                    .unwrap_or(0);
                c[best]
            })
            .collect()
    }

    /// Each state's candidates scored for re-ranking: the critic's Q(s, a), plus
    /// `skip_model_weight` times the agent's skip model's P(not skipped) when the agent has
    /// one and `heard` is given.
    pub fn scores(
        &self,
        agent: &Agent,
        obs: &[f32],
        cands: &[Vec<u32>],
        heard: Option<&Heard>,
    ) -> Vec<Vec<f32>> {
        // Pad every state's list to the longest (repeating its last candidate) so one batched
        // pass scores them all.
        let k = cands.iter().map(Vec::len).max().unwrap_or(1);
        let mut actions = Vec::with_capacity(cands.len() * k * self.dim);
        for c in cands {
            for i in 0..k {
                actions.extend_from_slice(self.track(c[i.min(c.len() - 1)]));
            }
        }
        let q = agent.value_candidates(obs, &actions, k);
        let mut scores: Vec<Vec<f32>> = cands
            .iter()
            .enumerate()
            .map(|(i, c)| q[i * k..i * k + c.len()].to_vec())
            .collect();
        let w = agent.cfg.skip_model_weight as f32;
        if let (Some(h), true) = (heard, w > 0.0) {
            let model = agent
                .skip_model
                .as_ref()
                .expect("an agent with skip_model_weight > 0 carries its skip model");
            let sd = model.state_dim;
            let (mut states, mut songs, mut histories) = (Vec::new(), Vec::new(), Vec::new());
            for (i, c) in cands.iter().enumerate() {
                for &t in c {
                    states.extend_from_slice(&h.states[i * sd..(i + 1) * sd]);
                    songs.extend_from_slice(self.songs.song(t));
                    histories.push(h.histories[i]);
                }
            }
            let p = model.not_skip(&self.songs, &states, &histories, &songs);
            let mut p = p.iter();
            for s in scores.iter_mut().flatten() {
                *s += w * *p.next().expect("one probability per candidate") as f32;
            }
        }
        scores
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
        let states: Vec<f32> = obs.iter().flat_map(|o| o.state.iter().copied()).collect();
        let heard = Heard {
            histories: &histories,
            states: &states,
        };
        self.space.choose(
            self.agent,
            &x,
            &protos,
            self.candidates,
            &excluded,
            Some(&heard),
        )
    }
}

/// The name of a learned policy acting with `k` candidates: the algorithm (`-ft` when it
/// fine-tuned the encoder, `@truth` when it trained against a synthetic world's true model),
/// `(nearest)` without critic re-ranking, `+skip` when the skip model joins the critic
/// (`skip_model_weight`), `k=K` at another k than the run's own. With popular or anchor
/// candidates the critic re-ranks even at k = 1.
pub fn policy_name(cfg: &AgentConfig, k: usize, trained_on_truth: bool) -> String {
    let trained_k = cfg.candidates;
    let mut algo = match cfg.encoder_mode {
        EncoderMode::Frozen => cfg.algo.name().to_string(),
        EncoderMode::FineTuned => format!("{}-ft", cfg.algo.name()),
    };
    if trained_on_truth {
        algo.push_str("@truth");
    }
    let reranks = k > 1 || cfg.popular_candidates > 0 || cfg.anchor_candidates > 0;
    let rerank = if cfg.skip_model_weight > 0.0 {
        "wolpertinger+skip"
    } else {
        "wolpertinger"
    };
    if !reranks && trained_k > 1 {
        format!("{algo} (nearest)")
    } else if reranks && k != trained_k {
        format!("{algo}+{rerank} k={k}")
    } else if reranks {
        format!("{algo}+{rerank}")
    } else {
        algo
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
            catalogue: None,
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

    #[test]
    fn the_skip_model_joins_the_critic_in_the_re_ranking() {
        use crate::agent::AgentConfig;
        use crate::simulator::classifier::SkipClassifier;
        use crate::simulator::memory::SkipModel;
        use std::sync::Arc;
        let s = ActionSpace::new(&songs(), &IndexKind::Exact);
        // A skip model (no recent plays) that hears out the tracks from 2 up.
        let (mut x, mut a, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..200 {
            let t = [0.0f32, 1.0, 2.0, 4.0][i % 4];
            x.push(0.0f32);
            a.push(t);
            y.push(t >= 2.0);
        }
        let model = SkipModel {
            classifier: Arc::new(SkipClassifier::train(&x, 1, &a, 1, &y, 8, 60, 1)),
            recent: 0,
            state_dim: 1,
        };
        let agent_with = |w: f64| {
            let cfg = AgentConfig {
                hidden: 4,
                skip_model_weight: w,
                ..Default::default()
            };
            let mut agent = Agent::new(&cfg, 1, 1, &burn::tensor::Device::flex());
            agent.skip_model = Some(model.clone());
            agent
        };
        let (obs, proto) = ([0.3f32], [-1.0f32]);
        let history: &[(u32, u8)] = &[(0, 3)];
        let heard = Heard {
            histories: &[history],
            states: &[0.0],
        };
        let cands = vec![vec![0, 1, 2, 3]];
        let p = model.not_skip(&songs(), &[0.0; 4], &[history; 4], &[0.0, 1.0, 2.0, 4.0]);
        assert!(p[2].min(p[3]) > p[0].max(p[1]), "{p:?}");
        let agent = agent_with(2.5);
        let q = agent.value_candidates(&obs, &s.tracks, 4);
        // Each candidate scores Q + w·P̂; without a history, the critic alone.
        let scores = s.scores(&agent, &obs, &cands, Some(&heard));
        for i in 0..4 {
            assert!((scores[0][i] - (q[i] + 2.5 * p[i] as f32)).abs() < 1e-6);
        }
        assert_eq!(s.scores(&agent, &obs, &cands, None), vec![q.clone()]);
        // Weighted heavily, the skip model picks the track; at 0 the critic does.
        let best = |v: &[f32]| (0..4).max_by(|&i, &j| v[i].total_cmp(&v[j])).unwrap() as u32;
        let p32: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        let none: &[u32] = &[];
        let chosen = s.choose(&agent_with(1e4), &obs, &proto, 4, &[none], Some(&heard));
        assert_eq!(chosen, vec![best(&p32)]);
        let chosen = s.choose(&agent_with(0.0), &obs, &proto, 4, &[none], Some(&heard));
        assert_eq!(chosen, vec![best(&q)]);
    }
}
