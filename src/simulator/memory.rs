//! The memory-based user simulator (after Zhao et al. 2019's list-wise recommender and the
//! reference study): every logged transition of one split is a key — the encoded history before
//! a play and the song vector of the track played — with the user's recorded response. The
//! response to a query (state, recommended track) is the distance-weighted distribution of the
//! responses of the k nearest keys within a radius; with none inside, the split's base rate,
//! counted as uncovered.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::data::{Sample, Split};
use crate::encoder::Encoder;
use crate::encoder::data::{LEVELS, SongInputs};
use crate::nn::store;
use crate::songs::index::{self, NearestTracks};

use super::classifier::SkipClassifier;
use super::config::{KeyMetric, SimulatorConfig};
use super::fidelity::{Fidelity, fidelity};

/// A logged transition: the history before a play, the track played and its response level.
#[derive(Clone, Debug)]
pub struct Transition {
    pub history: Vec<(u32, u8)>,
    pub track: u32,
    pub level: u8,
}

/// Every transition of `split` whose history holds at least one play.
pub fn transitions(sample: &Sample, split: Split, history: usize) -> Vec<Transition> {
    let mut out = Vec::new();
    for s in sample.sessions_in(split) {
        let rows = sample.rows_of(s);
        for t in 1..rows.len() {
            let start = t.saturating_sub(history);
            out.push(Transition {
                history: rows[start..t]
                    .iter()
                    .map(|r| (r.track, r.flags.response_level()))
                    .collect(),
                track: rows[t].track,
                level: rows[t].flags.response_level(),
            });
        }
    }
    out
}

/// The histories of transitions, as [`Simulator::recent`] takes them.
pub fn histories(trans: &[Transition]) -> Vec<&[(u32, u8)]> {
    trans.iter().map(|t| t.history.as_slice()).collect()
}

/// The keys of transitions: their encoded histories `[n, latent]` and the song vectors of the
/// tracks played `[n, song dim]`.
pub fn encode_transitions(encoder: &Encoder, trans: &[Transition]) -> (Vec<f32>, Vec<f32>) {
    let states = encoder.encode(&histories(trans));
    let mut actions = Vec::with_capacity(trans.len() * encoder.songs.dim);
    for t in trans {
        actions.extend_from_slice(encoder.songs.song(t.track));
    }
    (states, actions)
}

/// The simulator's answer to one query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Response {
    /// Probability of each level (skip_1, skip_2, skip_3, not_skipped).
    pub probs: [f64; LEVELS],
    /// False when no logged key was within the radius (the base rate answered).
    pub covered: bool,
}

/// The recent part of keys ([`SimulatorConfig::recent`]): for each query (a history and the
/// song vector of the track recommended, `actions` `[n, song dim]`), the squared distance in
/// song space from the track to each of the last `recent` plays of the history, the latest
/// first, `[n, recent]`; NaN where the history is shorter.
pub fn recent_distances(
    recent: usize,
    songs: &SongInputs,
    histories: &[&[(u32, u8)]],
    actions: &[f32],
) -> Vec<f32> {
    let mut out = Vec::with_capacity(histories.len() * recent);
    each_recent_play(recent, songs, histories, actions, |play, track| {
        out.push(match play {
            Some((song, _)) => song.iter().zip(track).map(|(x, y)| (x - y) * (x - y)).sum(),
            None => f32::NAN,
        })
    });
    out
}

/// Calls `f` for each query and each of its last `recent` plays, the latest first: the play's
/// song vector and level (None past the history's start), and the query track's song vector.
fn each_recent_play(
    recent: usize,
    songs: &SongInputs,
    histories: &[&[(u32, u8)]],
    actions: &[f32],
    mut f: impl FnMut(Option<(&[f32], u8)>, &[f32]),
) {
    let d = songs.dim;
    assert_eq!(actions.len(), histories.len() * d);
    for (h, a) in histories.iter().zip(actions.chunks_exact(d.max(1))) {
        for j in 0..recent {
            let play = h
                .len()
                .checked_sub(j + 1)
                .map(|at| (songs.song(h[at].0), h[at].1));
            f(play, a);
        }
    }
}

/// Response distribution of `levels`.
fn base_rate(levels: &[u8]) -> [f64; LEVELS] {
    let mut rate = [0.0; LEVELS];
    for &l in levels {
        rate[l as usize] += 1.0;
    }
    rate.iter_mut()
        .for_each(|b| *b /= levels.len().max(1) as f64);
    rate
}

/// The history part of queries as the simulator's metric reads it: [`recent_distances`], or
/// with a learned metric [`recent_features`].
fn query_recent(
    cfg: &SimulatorConfig,
    songs: &SongInputs,
    histories: &[&[(u32, u8)]],
    actions: &[f32],
) -> Vec<f32> {
    match cfg.metric {
        KeyMetric::Scaled => recent_distances(cfg.recent, songs, histories, actions),
        KeyMetric::Learned => recent_features(cfg.recent, songs, histories, actions),
    }
}

/// The learned metric's view of the last `recent` plays of each query, the latest first: the
/// coordinate-by-coordinate squared differences between the track's song vector and the
/// play's, the play's level / 3 and 1; zeros where the history is shorter. `[n, recent·(d+2)]`.
pub fn recent_features(
    recent: usize,
    songs: &SongInputs,
    histories: &[&[(u32, u8)]],
    actions: &[f32],
) -> Vec<f32> {
    let d = songs.dim;
    let mut out = Vec::with_capacity(histories.len() * recent * (d + 2));
    each_recent_play(
        recent,
        songs,
        histories,
        actions,
        |play, track| match play {
            Some((song, level)) => {
                out.extend(song.iter().zip(track).map(|(x, y)| (x - y) * (x - y)));
                out.push(level as f32 / 3.0);
                out.push(1.0);
            }
            None => out.extend(std::iter::repeat_n(0.0, d + 2)),
        },
    );
    out
}

/// Rows `[state ‖ recent]` of the learned metric's inputs (the track's song vector goes in
/// as its action).
fn metric_inputs(states: &[f32], state_dim: usize, recent: &[f32], n: usize) -> Vec<f32> {
    let r = recent.len() / n.max(1);
    let mut x = Vec::with_capacity(n * (state_dim + r));
    for i in 0..n {
        x.extend_from_slice(&states[i * state_dim..(i + 1) * state_dim]);
        x.extend_from_slice(&recent[i * r..(i + 1) * r]);
    }
    x
}

/// Checks that the simulator reads no more recent plays than the encoder's histories hold.
pub fn check_recent(cfg: &SimulatorConfig, encoder: &Encoder) -> Result<(), String> {
    if cfg.recent > encoder.model.steps {
        return Err(format!(
            "simulator.recent ({}) must be at most the encoder's history length ({})",
            cfg.recent, encoder.model.steps
        ));
    }
    Ok(())
}

/// The learned metric: a skip model trained on `trans` (the training split's transitions,
/// already encoded) to tell whether each play was heard out, from the encoded state, the
/// recent plays ([`recent_features`]) and the track's song vector. It is trained on one
/// thread, so that every command that builds the simulators gets the same metric whatever
/// its thread count.
fn learn_metric(
    trans: &[Transition],
    states: &[f32],
    actions: &[f32],
    encoder: &Encoder,
    cfg: &SimulatorConfig,
) -> SkipClassifier {
    let recent = recent_features(cfg.recent, &encoder.songs, &histories(trans), actions);
    let n = trans.len();
    let latent = encoder.model.latent;
    let x = metric_inputs(states, latent, &recent, n);
    let y: Vec<bool> = trans.iter().map(|t| t.level == 3).collect();
    let train = || {
        SkipClassifier::train(
            &x,
            latent + cfg.recent * (encoder.songs.dim + 2),
            actions,
            encoder.songs.dim,
            &y,
            cfg.metric_hidden,
            cfg.metric_epochs,
            cfg.seed,
        )
    };
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(train),
        Err(_) => train(),
    }
}

/// A learned metric's skip model on its own, as agents re-rank candidates with it
/// (`[agent] skip_model_weight`): P(not skipped) from the encoded state, the last `recent`
/// plays ([`recent_features`]) and the track's song vector. A run saves it beside its
/// weights ([`save`](Self::save)), so that evaluation and serving read the model it was
/// trained with.
#[derive(Clone, Debug)]
pub struct SkipModel {
    pub classifier: Arc<SkipClassifier>,
    /// Plays of the history it reads.
    pub recent: usize,
    /// Width of the encoded state.
    pub state_dim: usize,
}

impl SkipModel {
    /// P(not skipped) of each query: encoded `states` `[n, state]`, `histories` and the
    /// tracks' song vectors `actions` `[n, song]`.
    pub fn not_skip(
        &self,
        songs: &SongInputs,
        states: &[f32],
        histories: &[&[(u32, u8)]],
        actions: &[f32],
    ) -> Vec<f64> {
        let n = histories.len();
        assert_eq!(states.len(), n * self.state_dim, "one state per history");
        let recent = recent_features(self.recent, songs, histories, actions);
        self.classifier
            .predict(&metric_inputs(states, self.state_dim, &recent, n), actions)
    }

    /// Writes the model to `path` (safetensors, atomically).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let meta = BTreeMap::from([
            ("recent".to_string(), self.recent.to_string()),
            ("state_dim".to_string(), self.state_dim.to_string()),
        ]);
        store::save(path, &self.classifier.export(), &meta)
    }

    /// Reads a model written by [`save`](Self::save) for tracks of `song_dim` coordinates.
    pub fn load(path: &Path, song_dim: usize) -> Result<SkipModel, String> {
        let (tensors, meta) = store::load(path)?;
        let field = |key: &str| {
            meta.get(key)
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| format!("{}: metadata {key} missing or not a count", path.display()))
        };
        let (recent, state_dim) = (field("recent")?, field("state_dim")?);
        let classifier =
            SkipClassifier::import(&tensors, state_dim + recent * (song_dim + 2), song_dim)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(SkipModel {
            classifier: Arc::new(classifier),
            recent,
            state_dim,
        })
    }
}

/// The memory-based simulator of one split.
pub struct Simulator {
    pub cfg: SimulatorConfig,
    pub state_dim: usize,
    pub action_dim: usize,
    /// Multipliers of the state and action parts of a key: √α / σ_s and √(1 − α) / σ_a.
    state_scale: f32,
    action_scale: f32,
    /// The recent part of a key ([`SimulatorConfig::recent`]): its multiplier √β / σ_r, and
    /// the value of each column when the history is shorter (the keys' column means).
    recent_scale: f32,
    recent_fill: Vec<f32>,
    /// `metric = "learned"`: the skip model whose hidden layer places the keys (learned on the
    /// training split, shared with the other splits' simulators), and the multiplier that
    /// puts random pairs of keys at squared distance 2 on average.
    metric: Option<Arc<SkipClassifier>>,
    hidden_scale: f32,
    index: Box<dyn NearestTracks>,
    levels: Vec<u8>,
    /// Response distribution of all keys.
    pub base_rate: [f64; LEVELS],
}

/// Root mean squared distance of rows of `x` (`[n, d]`) from their mean: the spread that makes
/// the expected squared distance between two random rows 2 after dividing by it.
fn spread(x: &[f32], d: usize) -> f64 {
    let n = (x.len() / d.max(1)).max(1) as f64;
    let mut mean = vec![0.0f64; d];
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut sq = 0.0;
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter().zip(row) {
            sq += (*v as f64 - m).powi(2);
        }
    }
    (sq / n).sqrt().max(1e-9)
}

impl Simulator {
    /// The simulator of `split` (every transition's history encoded with `encoder`) with
    /// `like`'s settings and, with a learned metric, its metric: the validation and held-out
    /// simulators place their keys as the training one (`like`) does.
    pub fn build_like(
        sample: &Sample,
        split: Split,
        encoder: &Encoder,
        like: &Simulator,
    ) -> Simulator {
        let trans = transitions(sample, split, encoder.model.steps);
        let (states, actions) = encode_transitions(encoder, &trans);
        Simulator::assemble(
            &trans,
            &states,
            &actions,
            encoder,
            &like.cfg,
            like.metric.clone(),
        )
    }

    /// Builds the training split's simulator from its transitions, already encoded by
    /// [`encode_transitions`] (callers need them too). A learned metric is learned on them.
    /// The config's `recent` may not exceed the encoder's history length ([`check_recent`]):
    /// the transitions' histories hold no more.
    pub fn from_encoded(
        trans: &[Transition],
        states: &[f32],
        actions: &[f32],
        encoder: &Encoder,
        cfg: &SimulatorConfig,
    ) -> Simulator {
        assert!(
            check_recent(cfg, encoder).is_ok(),
            "simulator.recent beyond the history"
        );
        let metric = (cfg.metric == KeyMetric::Learned)
            .then(|| Arc::new(learn_metric(trans, states, actions, encoder, cfg)));
        Simulator::assemble(trans, states, actions, encoder, cfg, metric)
    }

    fn assemble(
        trans: &[Transition],
        states: &[f32],
        actions: &[f32],
        encoder: &Encoder,
        cfg: &SimulatorConfig,
        metric: Option<Arc<SkipClassifier>>,
    ) -> Simulator {
        let levels: Vec<u8> = trans.iter().map(|t| t.level).collect();
        let recent = query_recent(cfg, &encoder.songs, &histories(trans), actions);
        Simulator::with_metric(
            states,
            encoder.model.latent,
            actions,
            encoder.songs.dim,
            &recent,
            levels,
            cfg,
            metric,
        )
    }

    /// Builds the simulator from raw keys: `states` `[n, state_dim]`, `actions`
    /// `[n, action_dim]`, the recent part `[n, cfg.recent]` ([`recent_distances`]; NaN where
    /// the history is shorter), and each key's response level.
    pub fn from_keys(
        states: &[f32],
        state_dim: usize,
        actions: &[f32],
        action_dim: usize,
        recent: &[f32],
        levels: Vec<u8>,
        cfg: &SimulatorConfig,
    ) -> Simulator {
        assert_eq!(
            cfg.metric,
            KeyMetric::Scaled,
            "raw keys are placed by scaling"
        );
        Simulator::with_metric(
            states, state_dim, actions, action_dim, recent, levels, cfg, None,
        )
    }

    /// The simulator of keys whose recent part is [`query_recent`]'s; with `metric`, the keys
    /// are its hidden activations.
    #[allow(clippy::too_many_arguments)]
    fn with_metric(
        states: &[f32],
        state_dim: usize,
        actions: &[f32],
        action_dim: usize,
        recent: &[f32],
        levels: Vec<u8>,
        cfg: &SimulatorConfig,
        metric: Option<Arc<SkipClassifier>>,
    ) -> Simulator {
        let n = levels.len();
        let r = if metric.is_some() { 0 } else { cfg.recent };
        assert_eq!(states.len(), n * state_dim);
        assert_eq!(actions.len(), n * action_dim);
        if let Some(m) = metric {
            assert_eq!(
                recent.len(),
                n * cfg.recent * (action_dim + 2),
                "recent_features"
            );
            let hidden = m.hidden(&metric_inputs(states, state_dim, recent, n), actions);
            let hidden_scale = (1.0 / spread(&hidden, m.hidden_dim())) as f32;
            let keys: Vec<f32> = hidden.iter().map(|x| x * hidden_scale).collect();
            return Simulator {
                cfg: cfg.clone(),
                state_dim,
                action_dim,
                state_scale: 0.0,
                action_scale: 0.0,
                recent_scale: 0.0,
                recent_fill: Vec::new(),
                index: index::build(&cfg.index, keys, m.hidden_dim()),
                metric: Some(m),
                hidden_scale,
                base_rate: base_rate(&levels),
                levels,
            };
        }
        assert_eq!(recent.len(), n * r);
        let state_scale = (cfg.alpha.sqrt() / spread(states, state_dim)) as f32;
        let action_scale = ((1.0 - cfg.alpha).sqrt() / spread(actions, action_dim)) as f32;
        // Missing recent plays take their column's mean over the keys that have one.
        let recent_fill: Vec<f32> = (0..r)
            .map(|j| {
                let (sum, count) = recent
                    .iter()
                    .skip(j)
                    .step_by(r)
                    .filter(|x| !x.is_nan())
                    .fold((0.0f64, 0usize), |(s, c), &x| (s + x as f64, c + 1));
                if count == 0 {
                    0.0
                } else {
                    (sum / count as f64) as f32
                }
            })
            .collect();
        let filled: Vec<f32> = recent
            .iter()
            .enumerate()
            .map(|(i, &x)| if x.is_nan() { recent_fill[i % r] } else { x })
            .collect();
        let recent_scale = if r == 0 {
            0.0
        } else {
            (cfg.recent_weight.sqrt() / spread(&filled, r)) as f32
        };
        let mut keys = Vec::with_capacity(n * (state_dim + action_dim + r));
        for i in 0..n {
            keys.extend(
                states[i * state_dim..(i + 1) * state_dim]
                    .iter()
                    .map(|x| x * state_scale),
            );
            keys.extend(
                actions[i * action_dim..(i + 1) * action_dim]
                    .iter()
                    .map(|x| x * action_scale),
            );
            keys.extend(filled[i * r..(i + 1) * r].iter().map(|x| x * recent_scale));
        }
        Simulator {
            cfg: cfg.clone(),
            state_dim,
            action_dim,
            state_scale,
            action_scale,
            recent_scale,
            recent_fill,
            index: index::build(&cfg.index, keys, state_dim + action_dim + r),
            metric: None,
            hidden_scale: 0.0,
            base_rate: base_rate(&levels),
            levels,
        }
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The history part of the queries' keys: with scaled keys [`recent_distances`]
    /// (`[n, cfg.recent]`), with a learned metric [`recent_features`] (`[n, cfg.recent·(d+2)]`);
    /// empty when `cfg.recent` is 0.
    pub fn recent(
        &self,
        songs: &SongInputs,
        histories: &[&[(u32, u8)]],
        actions: &[f32],
    ) -> Vec<f32> {
        query_recent(&self.cfg, songs, histories, actions)
    }

    /// With a learned metric: its skip model, which agents may re-rank with and
    /// `examples/model_greedy` plays.
    pub fn skip_model(&self) -> Option<SkipModel> {
        self.metric.as_ref().map(|m| SkipModel {
            classifier: m.clone(),
            recent: self.cfg.recent,
            state_dim: self.state_dim,
        })
    }

    /// Width of a key: state, action and recent parts, or the learned metric's hidden layer.
    pub fn key_dim(&self) -> usize {
        match &self.metric {
            Some(m) => m.hidden_dim(),
            None => self.state_dim + self.action_dim + self.cfg.recent,
        }
    }

    /// The keys of queries `states` `[n, state_dim]`, `actions` `[n, action_dim]` and their
    /// history part `recent` ([`recent`](Self::recent)): `[n, key_dim]`.
    pub fn keys(&self, states: &[f32], actions: &[f32], recent: &[f32]) -> Vec<f32> {
        let n = states.len() / self.state_dim;
        if let Some(m) = &self.metric {
            assert_eq!(
                recent.len(),
                n * self.cfg.recent * (self.action_dim + 2),
                "the queries' recent features"
            );
            let x = metric_inputs(states, self.state_dim, recent, n);
            let mut h = m.hidden(&x, actions);
            h.iter_mut().for_each(|v| *v *= self.hidden_scale);
            return h;
        }
        let r = self.cfg.recent;
        assert_eq!(recent.len(), n * r, "the queries' recent part");
        let mut keys = Vec::with_capacity(n * self.key_dim());
        for i in 0..n {
            let s = &states[i * self.state_dim..(i + 1) * self.state_dim];
            let a = &actions[i * self.action_dim..(i + 1) * self.action_dim];
            keys.extend(s.iter().map(|x| x * self.state_scale));
            keys.extend(a.iter().map(|x| x * self.action_scale));
            keys.extend(
                recent[i * r..(i + 1) * r]
                    .iter()
                    .zip(&self.recent_fill)
                    .map(|(&x, &fill)| if x.is_nan() { fill } else { x } * self.recent_scale),
            );
        }
        keys
    }

    /// Replaces the key index (the same keys, as [`keys`](Self::keys) scales them).
    pub fn set_index(&mut self, index: Box<dyn NearestTracks>) {
        assert_eq!(
            index.len(),
            self.len(),
            "an index over the simulator's keys"
        );
        self.index = index;
    }

    /// The `k` nearest keys of each query, nearest first.
    pub fn neighbours(
        &self,
        states: &[f32],
        actions: &[f32],
        recent: &[f32],
    ) -> Vec<Vec<index::Neighbour>> {
        self.index
            .search_batch(&self.keys(states, actions, recent), self.cfg.k)
    }

    /// This simulator's fidelity on transitions it never indexed, encoded by
    /// [`encode_transitions`] as `states` and `actions`: its not-skip probability of each
    /// against what happened, beside its own base rate.
    pub fn fidelity_on(
        &self,
        songs: &SongInputs,
        trans: &[Transition],
        states: &[f32],
        actions: &[f32],
    ) -> Fidelity {
        let recent = self.recent(songs, &histories(trans), actions);
        let responses = self.respond(states, actions, &recent);
        let p: Vec<f64> = responses.iter().map(|r| r.probs[3]).collect();
        let covered: Vec<bool> = responses.iter().map(|r| r.covered).collect();
        let y: Vec<bool> = trans.iter().map(|t| t.level == 3).collect();
        fidelity(&p, &covered, &y, self.base_rate[3])
    }

    /// Responses to a batch of queries: `states` `[n, state_dim]`, `actions` `[n, action_dim]`
    /// and their history part `recent` ([`recent`](Self::recent)).
    pub fn respond(&self, states: &[f32], actions: &[f32], recent: &[f32]) -> Vec<Response> {
        let found = self.neighbours(states, actions, recent);
        found
            .iter()
            .map(|nb| {
                let mut probs = [0.0f64; LEVELS];
                let mut total = 0.0;
                for x in nb.iter().filter(|x| (x.dist as f64) <= self.cfg.radius) {
                    // Distances are squared L2; weight by inverse distance (plus a floor, so an
                    // exact match does not take all the weight).
                    let w = 1.0 / ((x.dist.max(0.0) as f64).sqrt() + self.cfg.weight_floor);
                    probs[self.levels[x.id as usize] as usize] += w;
                    total += w;
                }
                if total == 0.0 {
                    return Response {
                        probs: self.base_rate,
                        covered: false,
                    };
                }
                // The base rate as a prior worth `prior_weight` neighbours at distance 0.
                let prior = self.cfg.prior_weight / self.cfg.weight_floor;
                for (p, b) in probs.iter_mut().zip(&self.base_rate) {
                    *p = (*p + prior * b) / (total + prior);
                }
                Response {
                    probs,
                    covered: true,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SimulatorConfig {
        SimulatorConfig {
            k: 2,
            radius: 0.5,
            prior_weight: 0.0,
            ..Default::default()
        }
    }

    #[test]
    fn nearest_keys_answer_and_far_queries_fall_back() {
        // Four keys on a line (state 1-d, action 1-d); levels 3, 3, 0, 0.
        let states = [0.0f32, 0.1, 1.0, 1.1];
        let actions = [0.0f32, 0.0, 1.0, 1.0];
        let sim = Simulator::from_keys(&states, 1, &actions, 1, &[], vec![3, 3, 0, 0], &cfg());
        assert_eq!(sim.base_rate, [0.5, 0.0, 0.0, 0.5]);
        let r = sim.respond(&[0.05, 1.05, 10.0], &[0.0, 1.0, 10.0], &[]);
        assert!(r[0].covered && r[0].probs[3] == 1.0, "{:?}", r[0]);
        assert!(r[1].covered && r[1].probs[0] == 1.0, "{:?}", r[1]);
        assert!(!r[2].covered);
        assert_eq!(r[2].probs, sim.base_rate);
    }

    #[test]
    fn a_skip_model_reads_the_recent_plays_and_survives_a_round_trip() {
        use crate::encoder::data::InputTransform;
        let songs = SongInputs {
            dim: 1,
            values: vec![0.0, 1.0, 3.0],
            transform: InputTransform::Identity,
            catalogue: None,
        };
        // Rows [state ‖ one recent play's (difference², level / 3, 1)] and the track.
        let mut rng = crate::rng::Rng::new(7);
        let (mut x, mut a, mut y) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..64 {
            let (s, d, t) = (rng.f64() as f32, rng.f64() as f32, rng.f64() as f32);
            x.extend([s, d, 1.0, 1.0]);
            a.push(t);
            y.push(d < 0.5);
        }
        let clf = SkipClassifier::train(&x, 4, &a, 1, &y, 8, 3, 1);
        let model = SkipModel {
            classifier: Arc::new(clf.clone()),
            recent: 1,
            state_dim: 1,
        };
        // The last play of [(0, 3), (1, 0)] is track 1, skipped; of [(2, 3)] track 2, heard out.
        let h1: &[(u32, u8)] = &[(0, 3), (1, 0)];
        let h2: &[(u32, u8)] = &[(2, 3)];
        let p = model.not_skip(&songs, &[0.2, 0.7], &[h1, h2], &[3.0, 0.0]);
        let by_hand = clf.predict(&[0.2, 4.0, 0.0, 1.0, 0.7, 9.0, 1.0, 1.0], &[3.0, 0.0]);
        assert_eq!(p, by_hand);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skip.safetensors");
        model.save(&path).unwrap();
        let back = SkipModel::load(&path, 1).unwrap();
        assert_eq!((back.recent, back.state_dim), (1, 1));
        assert_eq!(
            back.not_skip(&songs, &[0.2, 0.7], &[h1, h2], &[3.0, 0.0]),
            p
        );
        // A model for tracks of another width is refused, naming the file.
        let e = SkipModel::load(&path, 2).unwrap_err();
        assert!(e.contains("skip.safetensors"), "{e}");
    }

    #[test]
    fn recent_plays_join_the_keys() {
        use crate::encoder::data::InputTransform;
        // Three tracks on a line; the same state and track in both keys, but the first key's
        // last play was the track itself (skipped) and the second's was far from it (heard out).
        let songs = SongInputs {
            dim: 1,
            values: vec![0.0, 1.0, 3.0],
            transform: InputTransform::Identity,
            catalogue: None,
        };
        let near: &[(u32, u8)] = &[(2, 3), (0, 1)];
        let far: &[(u32, u8)] = &[(2, 3)];
        let d = recent_distances(2, &songs, &[near, far], &[0.0, 0.0]);
        // Latest first; a history too short for the second has NaN there.
        assert_eq!(d[..3], [0.0, 9.0, 9.0]);
        assert!(d[3].is_nan());
        // The learned metric's view: per play the squared differences, the level / 3 and a
        // present flag; zeros past the history.
        let f = recent_features(2, &songs, &[near, far], &[1.0, 0.0]);
        assert_eq!(
            f,
            [
                1.0,
                1.0 / 3.0,
                1.0,
                4.0,
                1.0,
                1.0,
                9.0,
                1.0,
                1.0,
                0.0,
                0.0,
                0.0
            ]
        );
        let c = SimulatorConfig {
            k: 1,
            radius: 100.0,
            prior_weight: 0.0,
            recent: 1,
            ..Default::default()
        };
        let recent = recent_distances(1, &songs, &[near, far], &[0.0, 0.0]);
        let sim = Simulator::from_keys(&[0.0, 0.0], 1, &[0.0, 0.0], 1, &recent, vec![0, 3], &c);
        assert_eq!(sim.key_dim(), 3);
        // A query after the same two histories answers as each key did.
        let q = sim.recent(&songs, &[near, far], &[0.0, 0.0]);
        let r = sim.respond(&[0.0, 0.0], &[0.0, 0.0], &q);
        assert_eq!((r[0].probs[0], r[1].probs[3]), (1.0, 1.0), "{r:?}");
        // Without the recent part both keys are one point: the queries get the same answer.
        let plain = Simulator::from_keys(
            &[0.0, 0.0],
            1,
            &[0.0, 0.0],
            1,
            &[],
            vec![0, 3],
            &SimulatorConfig { recent: 0, ..c },
        );
        let r = plain.respond(&[0.0, 0.0], &[0.0, 0.0], &[]);
        assert_eq!(r[0], r[1]);
        // A history shorter than the recent part takes the keys' column mean there.
        let empty: &[(u32, u8)] = &[];
        let q = sim.recent(&songs, &[empty], &[0.0]);
        assert!(q[0].is_nan());
        let keys = sim.keys(&[0.0], &[0.0], &q);
        let mean = sim.keys(&[0.0], &[0.0], &[4.5]);
        assert_eq!(keys, mean);
    }

    #[test]
    fn closer_neighbours_weigh_more() {
        let states = [0.0f32, 0.0];
        let actions = [0.0f32, 0.2];
        let c = SimulatorConfig {
            radius: 100.0,
            ..cfg()
        };
        let sim = Simulator::from_keys(&states, 1, &actions, 1, &[], vec![3, 0], &c);
        let r = sim.respond(&[0.0], &[0.02], &[])[0];
        assert!(r.probs[3] > 0.6 && r.probs[0] > 0.0, "{r:?}");
        assert!((r.probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_prior_pulls_answers_towards_the_base_rate() {
        // One neighbour at distance 0 (weight 1/floor) and a prior worth one such neighbour:
        // the answer is halfway between the neighbour's level and the base rate.
        let c = SimulatorConfig {
            k: 1,
            radius: 10.0,
            prior_weight: 1.0,
            ..cfg()
        };
        let sim = Simulator::from_keys(&[0.0, 1.0], 1, &[0.0, 1.0], 1, &[], vec![3, 0], &c);
        let r = sim.respond(&[0.0], &[0.0], &[])[0];
        assert!(
            (r.probs[3] - 0.75).abs() < 1e-9 && (r.probs[0] - 0.25).abs() < 1e-9,
            "{r:?}"
        );
    }
}
