//! The adaptor to a synthetic world, the one module outside `synth` that sees its hidden model:
//! the world's true model as an [`Environment`] ([`TrueEnv`]), each step scored by the exact
//! expected reward, and the references that know the model (the greedy oracle, a beam-search
//! planner and posterior-greedy play).
//!
//! Episodes start from the same sessions as the simulator's ([`start_sessions`] with the same
//! seed), so a policy's true and simulated scores are measured on the same starting histories.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{Sample, Split};
use crate::encoder::Encoder;
use crate::rng::Rng;
use crate::simulator::SimulatorConfig;
use crate::synth::model::{Mood, User, UserModel, UserState};
use crate::synth::saved::SavedWorld;

use super::env::{EnvError, Environment, Observations, Step};
use super::episodes::{Episodes, first_plays, start_sessions};
use super::policy::{Observation, Policy};
use super::reward::Reward;

/// A reference's exact expected score under the true model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrueScore {
    pub policy: String,
    pub episodes: usize,
    pub mean: f64,
    pub ci95: f64,
}

/// A synthetic world loaded from its folder (`world.json`, `world.bin`).
pub struct World {
    /// The folder, canonical.
    pub dir: PathBuf,
    saved: SavedWorld,
}

impl World {
    pub fn load(dir: &Path) -> Result<World, EnvError> {
        let saved = crate::synth::saved::load(dir).map_err(|e| EnvError::World(e.to_string()))?;
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| EnvError::World(format!("{}: {e}", dir.display())))?;
        Ok(World { dir, saved })
    }

    /// An error unless every track and every session of `split` of `sample` is the world's.
    pub fn check(&self, sample: &Sample, split: Split) -> Result<(), EnvError> {
        world_tracks(&self.saved, sample)?;
        for s in sample.sessions_in(split) {
            session_user(&self.saved, &s.id)?;
        }
        Ok(())
    }

    /// The true model as an environment: episodes from sessions of `sample` (drawn from this
    /// world), the simulator settings' start, horizon, exclusions and reward.
    pub fn env<'a>(
        &'a self,
        encoder: &'a Encoder,
        sample: &'a Sample,
        cfg: &SimulatorConfig,
    ) -> Result<TrueEnv<'a>, EnvError> {
        let h = Hidden {
            users: Vec::new(),
            states: Vec::new(),
            eps: Episodes::empty(cfg.exclude_played, encoder.model.steps, cfg.horizon),
            world_track: world_tracks(&self.saved, sample)?,
        };
        Ok(self.resume(encoder, sample, cfg, h))
    }

    /// [`World::env`] continuing the episodes of `h` ([`TrueEnv::into_hidden`]), the sample's
    /// tracks already mapped to the world's: a caller that cannot hold the borrows between
    /// steps keeps only `h`.
    pub fn resume<'a>(
        &'a self,
        encoder: &'a Encoder,
        sample: &'a Sample,
        cfg: &SimulatorConfig,
        h: Hidden,
    ) -> TrueEnv<'a> {
        TrueEnv {
            model: &self.saved.model,
            source: Source::World {
                saved: &self.saved,
                sample,
                start_steps: cfg.start_steps,
            },
            encoder: Some(encoder),
            world_track: h.world_track,
            reward: cfg.reward.reward(),
            users: h.users,
            states: h.states,
            eps: h.eps,
        }
    }

    /// Episode starts of `split`'s sessions under `seed` (as the simulator draws them), with
    /// each session's hidden user and state: what the references play from.
    pub fn starts(
        &self,
        sample: &Sample,
        split: Split,
        steps: usize,
        n: usize,
        seed: u64,
    ) -> Result<TrueStarts, EnvError> {
        let world_track = world_tracks(&self.saved, sample)?;
        let sessions = start_sessions(sample, split, steps, n, seed);
        let (users, states, histories) =
            hidden_starts(&self.saved, sample, &world_track, &sessions, steps)?;
        Ok(TrueStarts {
            users,
            states,
            histories,
            world_track,
        })
    }

    /// The hidden users of `split`'s sessions, at most `max` ([`split_users`]).
    pub fn split_users(
        &self,
        sample: &Sample,
        split: Split,
        max: usize,
        seed: u64,
    ) -> Result<Vec<User>, EnvError> {
        split_users(&self.saved, sample, split, max, seed)
    }

    /// The true model's probability that each logged play of `split` was heard out
    /// ([`true_probabilities`]).
    pub fn true_probabilities(&self, sample: &Sample, split: Split) -> Result<Vec<f64>, EnvError> {
        true_probabilities(&self.saved, sample, split)
    }
}

/// The hidden users and their states after the starting plays.
#[derive(Clone)]
pub struct TrueStarts {
    pub users: Vec<User>,
    pub states: Vec<UserState>,
    pub histories: Vec<Vec<(u32, u8)>>,
    /// The world model's index of each sample track.
    pub world_track: Vec<u32>,
}

/// The world model's index of each sample track.
fn world_tracks(world: &SavedWorld, sample: &Sample) -> Result<Vec<u32>, EnvError> {
    sample
        .tracks
        .iter()
        .map(|id| {
            world
                .track(id)
                .ok_or_else(|| EnvError::UnknownTrack(id.to_string()))
        })
        .collect()
}

/// The hidden user of a sample session.
fn session_user(world: &SavedWorld, session: &str) -> Result<User, EnvError> {
    world
        .user(session)
        .copied()
        .ok_or_else(|| EnvError::UnknownSession(session.into()))
}

/// Sessions' hidden users, their states after the first `steps` plays, and those plays.
#[allow(clippy::type_complexity)]
fn hidden_starts(
    world: &SavedWorld,
    sample: &Sample,
    world_track: &[u32],
    sessions: &[usize],
    steps: usize,
) -> Result<(Vec<User>, Vec<UserState>, Vec<Vec<(u32, u8)>>), EnvError> {
    let (mut users, mut states, mut histories) = (Vec::new(), Vec::new(), Vec::new());
    for &i in sessions {
        let s = sample
            .sessions
            .get(i)
            .filter(|s| s.len as usize >= steps)
            .ok_or(EnvError::ShortSession { session: i, steps })?;
        let user = session_user(world, &s.id)?;
        let mut state = world.model.start(&user);
        let history = first_plays(sample, i, steps);
        for &(t, _) in &history {
            world.model.advance(&mut state, world_track[t as usize]);
        }
        users.push(user);
        states.push(state);
        histories.push(history);
    }
    Ok((users, states, histories))
}

/// The true model's probability that each logged play of `split` was heard out, in the order of
/// [`transitions`](crate::simulator::memory::transitions) (every play after a session's first):
/// each session's hidden user replayed through the tracks before it. Against the plays'
/// outcomes it is the best fidelity any simulator could reach on these transitions.
fn true_probabilities(
    world: &SavedWorld,
    sample: &Sample,
    split: Split,
) -> Result<Vec<f64>, EnvError> {
    let m = &world.model;
    let world_track = world_tracks(world, sample)?;
    let mut out = Vec::new();
    for s in sample.sessions_in(split) {
        let user = session_user(world, &s.id)?;
        let mut state = m.start(&user);
        for (t, r) in sample.rows_of(s).iter().enumerate() {
            let track = world_track[r.track as usize];
            if t > 0 {
                out.push(m.not_skip(m.engagement(&user, &state, track)));
            }
            m.advance(&mut state, track);
        }
    }
    Ok(out)
}

/// The response streams of the true model's episodes ("TRUE").
const TRUE_STREAM: u64 = 0x5452_5545;

/// The hidden users of episodes in progress: the environment that answers with the true model.
/// A step's response is drawn from the model with the episode's stream, and it is scored by its
/// exact expected reward.
pub struct TrueEnv<'a> {
    model: &'a UserModel,
    source: Source<'a>,
    /// None in tests: the observations' states are then empty.
    encoder: Option<&'a Encoder>,
    world_track: Vec<u32>,
    reward: Reward,
    users: Vec<User>,
    states: Vec<UserState>,
    eps: Episodes,
}

/// Where a [`TrueEnv`]'s episodes start: sessions of a sample drawn from the world, or (in
/// tests) hand-made starts, session `i` being the `i`-th.
enum Source<'a> {
    World {
        saved: &'a SavedWorld,
        sample: &'a Sample,
        start_steps: usize,
    },
    #[cfg(test)]
    Fixed(TrueStarts),
}

/// The episodes of a [`TrueEnv`] in progress with their hidden users, kept apart from the
/// world they play in ([`TrueEnv::into_hidden`]).
pub struct Hidden {
    users: Vec<User>,
    states: Vec<UserState>,
    eps: Episodes,
    /// The world's id of each sample track.
    world_track: Vec<u32>,
}

impl<'a> TrueEnv<'a> {
    /// The episodes in progress and their hidden users.
    pub fn into_hidden(self) -> Hidden {
        Hidden {
            users: self.users,
            states: self.states,
            eps: self.eps,
            world_track: self.world_track,
        }
    }

    /// The greedy oracle's and the planner's expected numbers of plays heard out from each
    /// episode's current state over the remaining steps (`[greedy, planner]` per episode),
    /// among the sample's tracks: what knowing the user could still reach.
    pub fn ceilings(&self) -> Vec<[f64; 2]> {
        let m = self.model;
        let mut pool = self.world_track.clone();
        pool.sort_unstable();
        let left = self.eps.horizon().saturating_sub(self.eps.steps());
        (self.users.iter().zip(&self.states))
            .map(|(u, s)| {
                [
                    m.greedy(u, s, &pool, left).expected,
                    m.plan(u, s, &pool, left, 8, 8).expected,
                ]
            })
            .collect()
    }

    /// Episodes of `model` from hand-made `starts`, session `i` being `starts`' `i`-th.
    #[cfg(test)]
    fn fixed(model: &'a UserModel, starts: TrueStarts, eps: Episodes, reward: Reward) -> Self {
        TrueEnv {
            model,
            world_track: starts.world_track.clone(),
            source: Source::Fixed(starts),
            encoder: None,
            reward,
            users: Vec::new(),
            states: Vec::new(),
            eps,
        }
    }

    /// The same environment paying `reward` instead.
    pub fn with_reward(mut self, reward: Reward) -> TrueEnv<'a> {
        self.reward = reward;
        self
    }
}

impl Environment for TrueEnv<'_> {
    fn reset(&mut self, sessions: &[usize], seed: u64) -> Result<(), EnvError> {
        let (users, states, histories) = match &self.source {
            Source::World {
                saved,
                sample,
                start_steps,
            } => hidden_starts(saved, sample, &self.world_track, sessions, *start_steps)?,
            #[cfg(test)]
            Source::Fixed(s) => (
                sessions.iter().map(|&i| s.users[i]).collect(),
                sessions.iter().map(|&i| s.states[i].clone()).collect(),
                sessions.iter().map(|&i| s.histories[i].clone()).collect(),
            ),
        };
        self.users = users;
        self.states = states;
        self.eps.reset(histories, seed, TRUE_STREAM);
        Ok(())
    }

    fn observe(&mut self) -> Observations<'_> {
        let enc = self.encoder;
        self.eps
            .observe(|h| enc.map_or_else(Vec::new, |e| e.encode(h)))
    }

    /// Each user's response level is drawn from the true model with the episode's stream, and
    /// the user's state moves with the track.
    fn step(&mut self, actions: &[u32]) -> Vec<Step> {
        let m = self.model;
        let truncated = self.eps.advance();
        (0..actions.len())
            .map(|i| {
                let wt = self.world_track[actions[i] as usize];
                let z = m.engagement(&self.users[i], &self.states[i], wt);
                let level = m.level_from_uniform(z, self.eps.rng(i).f64());
                m.advance(&mut self.states[i], wt);
                self.eps.record(i, actions[i], level);
                // `levels` gives the last level as 1 − σ; the exact not-skip probability is σ.
                let mut probs = m.levels(z);
                probs[3] = m.not_skip(z);
                Step {
                    level,
                    reward: self.reward.of(level),
                    expected: self.reward.expected(&probs),
                    covered: true,
                    truncated,
                }
            })
            .collect()
    }

    fn horizon(&self) -> usize {
        self.eps.horizon()
    }

    /// The exact expected reward: the score is the policy's expectation, not one draw of it.
    fn score(&self, step: &Step) -> f64 {
        step.expected
    }
}

/// How a reference that knows the user chooses: the greedy oracle (the track with the highest
/// not-skip probability now, every step) or a beam-search planner (beam 8, branch 8) over the
/// whole session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ceiling {
    Greedy,
    Planner,
}

impl Ceiling {
    pub fn name(self) -> &'static str {
        match self {
            Ceiling::Greedy => "greedy oracle",
            Ceiling::Planner => "planner (beam 8)",
        }
    }
}

/// A ceiling as a [`Policy`]: it knows each episode's hidden user and state (`starts`, the
/// same sessions the environment's episodes start from), follows them through its own choices,
/// and chooses among the sample's tracks. Played in a [`TrueEnv`] its score is the exact
/// expected score of its choices.
pub struct Oracle<'a> {
    m: &'a UserModel,
    kind: Ceiling,
    horizon: usize,
    users: Vec<User>,
    states: Vec<UserState>,
    /// The world's ids of the sample's tracks, ascending, and each one's sample id.
    pool: Vec<u32>,
    sample_of: std::collections::HashMap<u32, u32>,
    /// What each episode played last (world ids), and the planner's plans.
    last: Vec<Option<u32>>,
    plans: Vec<Vec<u32>>,
    step: usize,
}

impl<'a> Oracle<'a> {
    pub fn new(world: &'a World, kind: Ceiling, starts: &TrueStarts, horizon: usize) -> Self {
        Oracle::with_model(&world.saved.model, kind, starts, horizon)
    }

    fn with_model(m: &'a UserModel, kind: Ceiling, starts: &TrueStarts, horizon: usize) -> Self {
        let mut pool = starts.world_track.clone();
        pool.sort_unstable();
        let sample_of = (starts.world_track.iter().enumerate())
            .map(|(i, &w)| (w, i as u32))
            .collect();
        Oracle {
            m,
            kind,
            horizon,
            users: starts.users.clone(),
            states: starts.states.clone(),
            pool,
            sample_of,
            last: vec![None; starts.users.len()],
            plans: Vec::new(),
            step: 0,
        }
    }
}

impl Policy for Oracle<'_> {
    fn name(&self) -> String {
        self.kind.name().into()
    }

    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
        let m = self.m;
        if self.kind == Ceiling::Planner && self.plans.is_empty() {
            self.plans = (self.users.iter().zip(&self.states))
                .map(|(u, s)| m.plan(u, s, &self.pool, self.horizon, 8, 8).tracks)
                .collect();
        }
        let step = self.step;
        self.step += 1;
        (0..obs.len())
            .map(|i| {
                if let Some(t) = self.last[i] {
                    m.advance(&mut self.states[i], t);
                }
                let t = match self.kind {
                    Ceiling::Greedy => m.greedy_step(&self.users[i], &self.states[i], &self.pool),
                    Ceiling::Planner => self.plans[i].get(step).map(|&t| (t, 0.0)),
                }
                .map_or(self.pool[0], |(t, _)| t);
                self.last[i] = Some(t);
                self.sample_of[&t]
            })
            .collect()
    }
}

/// The hidden users of `split`'s sessions, at most `max` of them (a draw under `seed` when
/// there are more): the population [`PosteriorGreedy`] starts from.
fn split_users(
    world: &SavedWorld,
    sample: &Sample,
    split: Split,
    max: usize,
    seed: u64,
) -> Result<Vec<User>, EnvError> {
    let mut users: Vec<User> = sample
        .sessions_in(split)
        .map(|s| session_user(world, &s.id))
        .collect::<Result<_, _>>()?;
    if users.len() > max {
        let mut rng = Rng::stream(seed, &[0x0050_5249_4f52]); // "PRIOR"
        for i in 0..max {
            let j = i + rng.below((users.len() - i) as u64) as usize;
            users.swap(i, j);
        }
        users.truncate(max);
    }
    Ok(users)
}

/// A reference between the learned policies and the ceilings: one-step greedy play with the
/// true model, but without knowing the episode's user. Each of the `prior` users (the training
/// sessions' hidden users) is weighed by the likelihood of every response heard in the session
/// so far, the starting plays and the episode's, and the track played is the one with the
/// highest posterior-mean probability of being heard out. It knows the model and the whole
/// session, where a learned policy sees the last few plays through a learned state and must
/// learn the model: a reference from above for what inferring the user from the history can
/// reach one step at a time (approximately: the prior is a sample of training users, and users
/// whose weight falls below `e^-30` of the largest are dropped for the rest of the episode).
/// Played in a [`TrueEnv`], it hears the responses the environment draws.
///
/// With `window = Some(w)` only the last `w` responses weigh the users (every user is kept;
/// none is dropped), as a policy whose state holds the last `w` plays hears them. What was
/// played before still moves every candidate's mood and the shared state, as the track
/// sequence is known: the window limits what is learned of the user, not of the session.
pub struct PosteriorGreedy<'a> {
    m: &'a UserModel,
    prior: &'a [User],
    /// The world's id of each sample track.
    world_track: Vec<u32>,
    window: Option<usize>,
    beliefs: Vec<Belief>,
}

impl<'a> PosteriorGreedy<'a> {
    /// Posterior-greedy play over the sample's tracks (`world_track`: each one's world id),
    /// weighing `prior`, which may not be empty.
    pub fn new(
        world: &'a World,
        prior: &'a [User],
        world_track: &[u32],
        window: Option<usize>,
    ) -> Self {
        PosteriorGreedy::with_model(&world.saved.model, prior, world_track, window)
    }

    fn with_model(
        m: &'a UserModel,
        prior: &'a [User],
        world_track: &[u32],
        window: Option<usize>,
    ) -> Self {
        assert!(!prior.is_empty(), "a posterior needs prior users");
        assert!(
            window != Some(0),
            "a posterior window holds at least one response"
        );
        PosteriorGreedy {
            m,
            prior,
            world_track: world_track.to_vec(),
            window,
            beliefs: Vec::new(),
        }
    }
}

/// Users whose weight falls below the largest by this factor (in log) are dropped: at that
/// moment they move no posterior mean by more than `prior.len()·e^-30`, and they are not
/// brought back if later responses would have favoured them.
const NEGLIGIBLE_LOG_WEIGHT: f64 = 30.0;

/// What posterior-greedy play has learned of one episode's user.
struct Belief {
    /// The state every candidate user shares (what was played, the position); its mood is
    /// never read (each candidate's is in `moods`).
    heard: UserState,
    moods: Vec<Mood>,
    log_w: Vec<f64>,
    live: Vec<usize>,
    /// With a window: each response's log-likelihood per user, oldest first.
    terms: std::collections::VecDeque<Vec<f64>>,
    /// Plays of the episode heard so far.
    plays: usize,
}

impl Belief {
    fn new(m: &UserModel, prior: &[User]) -> Belief {
        Belief {
            heard: m.start(&prior[0]),
            moods: prior.iter().map(|u| u.mood0).collect(),
            log_w: vec![0.0; prior.len()],
            live: (0..prior.len()).collect(),
            terms: Default::default(),
            plays: 0,
        }
    }

    /// `track` (the world's id) was played and answered `level`.
    fn hear(
        &mut self,
        m: &UserModel,
        prior: &[User],
        window: Option<usize>,
        track: u32,
        level: u8,
    ) {
        let shared = m.shared(&self.heard, track);
        let mut term = vec![0.0; if window.is_some() { prior.len() } else { 0 }];
        for &k in &self.live {
            let z = m.personal(&prior[k], &self.moods[k], track)
                + shared
                + m.discovered(&prior[k], &self.heard.played, track);
            let l = m.levels(z)[level as usize].max(f64::MIN_POSITIVE).ln();
            match window {
                None => self.log_w[k] += l,
                Some(_) => term[k] = l,
            }
            m.drift(&mut self.moods[k], track);
        }
        m.advance(&mut self.heard, track);
        if let Some(w) = window {
            self.terms.push_back(term);
            if self.terms.len() > w {
                self.terms.pop_front();
            }
            for (k, lw) in self.log_w.iter_mut().enumerate() {
                *lw = self.terms.iter().map(|t| t[k]).sum();
            }
            return;
        }
        let top = self.top();
        let log_w = &self.log_w;
        self.live
            .retain(|&k| log_w[k] > top - NEGLIGIBLE_LOG_WEIGHT);
    }

    fn top(&self) -> f64 {
        (self.live.iter())
            .map(|&k| self.log_w[k])
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The allowed sample track with the highest posterior-mean not-skip probability (the
    /// first of equals); None when every track is excluded.
    fn choose(&self, m: &UserModel, prior: &[User], wt: &[u32], excluded: &[u32]) -> Option<u32> {
        let top = self.top();
        let w: Vec<f64> = (self.live.iter())
            .map(|&k| (self.log_w[k] - top).exp())
            .collect();
        let mut best: Option<(u32, f64)> = None;
        for (j, &track) in wt.iter().enumerate() {
            if excluded.binary_search(&(j as u32)).is_ok() {
                continue;
            }
            let shared = m.shared(&self.heard, track);
            let p: f64 = (self.live.iter().zip(&w))
                .map(|(&k, w)| {
                    let u = &prior[k];
                    let z = m.personal(u, &self.moods[k], track)
                        + shared
                        + m.discovered(u, &self.heard.played, track);
                    w * m.not_skip(z)
                })
                .sum();
            if best.is_none_or(|(_, b)| p > b) {
                best = Some((j as u32, p));
            }
        }
        best.map(|b| b.0)
    }
}

impl Policy for PosteriorGreedy<'_> {
    fn name(&self) -> String {
        match self.window {
            None => "posterior greedy".into(),
            Some(w) => format!("posterior greedy, last {w}"),
        }
    }

    fn act(&mut self, obs: &[Observation], _: &mut Rng) -> Vec<u32> {
        use rayon::prelude::*;
        let (m, prior, window, wt) = (self.m, self.prior, self.window, &self.world_track);
        if self.beliefs.len() != obs.len() {
            self.beliefs = obs.iter().map(|_| Belief::new(m, prior)).collect();
        }
        (self.beliefs.par_iter_mut().zip(obs.par_iter()))
            .map(|(b, o)| {
                // The starting plays at first, then the play answered since the last call.
                let new = if b.plays == 0 { o.history.len() } else { 1 };
                for &(t, level) in &o.history[o.history.len() - new..] {
                    b.hear(m, prior, window, wt[t as usize], level);
                }
                b.plays += new;
                b.choose(m, prior, wt, o.excluded).unwrap_or(0)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::model::{NO_DISCOVERY, TrackLatent, UserModelConfig};

    #[test]
    fn the_true_environment_draws_from_the_model_and_moves_the_users() {
        let track = |x: f32| TrackLatent {
            mood: [x, 0.0, 0.0, 0.0],
            cluster: 0,
            popularity: 0.0,
        };
        let m = UserModel {
            config: UserModelConfig::default(),
            thresholds: [-1.0, 0.0, 1.0],
            tracks: vec![track(0.0), track(1.0), track(2.0)],
            clusters: 1,
            position_shift: Vec::new(),
        };
        // A user who hears everything out, one who skips everything, one in between.
        let user = |propensity: f64| User {
            taste: [0.0; 4],
            propensity,
            mood0: [0.0; 4],
            discovery: NO_DISCOVERY,
        };
        let users = vec![user(60.0), user(-60.0), user(0.5)];
        let states: Vec<UserState> = users.iter().map(|u| m.start(u)).collect();
        let starts = TrueStarts {
            users: users.clone(),
            states: states.clone(),
            histories: vec![vec![(0, 3)]; 3],
            // Sample track t is the model's track 2 − t.
            world_track: vec![2, 1, 0],
        };
        let not_skipped = Reward::new([0.0, 0.0, 0.0, 1.0]);
        let mut env = TrueEnv::fixed(&m, starts.clone(), Episodes::empty(true, 2, 1), not_skipped);
        env.reset(&[0, 1, 2], 9).unwrap();
        let steps = env.step(&[1, 2, 2]);
        assert_eq!((steps[0].level, steps[0].reward), (3, 1.0));
        assert_eq!((steps[1].level, steps[1].reward), (0, 0.0));
        assert!(steps.iter().all(|s| s.truncated && s.covered));
        // The third level is the model's, drawn from episode 2's stream.
        let z = m.engagement(&users[2], &states[2], 0);
        let u = Rng::stream(9, &[TRUE_STREAM, 2]).f64();
        assert_eq!(steps[2].level, m.level_from_uniform(z, u));
        assert_eq!(steps[2].reward, not_skipped.of(steps[2].level));
        let obs = env.observe();
        assert_eq!(obs.histories[0], vec![(0, 3), (1, 3)]);
        assert_eq!(obs.excluded[1], vec![0, 2]);
        // The users moved with the model's tracks: a second play of the same track is a repeat.
        assert_eq!(env.states[1].played, vec![0]);
        let again = m.engagement(&users[2], &env.states[2], 0);
        assert!(again < z - 2.9, "{again} vs {z}");
        // The score is the exact expectation: the not-skip probability, to the bit.
        assert_eq!(env.score(&steps[2]), m.not_skip(z));
        assert!((steps[0].expected - 1.0).abs() < 1e-12 && steps[1].expected.abs() < 1e-12);
        // Another reward weighs the model's level probabilities by its values.
        let graded = Reward::new([0.0, 0.25, 0.5, 1.0]);
        let mut env = TrueEnv::fixed(&m, starts, Episodes::empty(true, 2, 1), graded);
        env.reset(&[2], 9).unwrap();
        let step = env.step(&[2])[0];
        let p = m.levels(z);
        let e: f64 = (0..4).map(|j| p[j] * graded.of(j as u8)).sum();
        assert!(e > 0.1 && e < 0.9, "{e}");
        assert!((env.score(&step) - e).abs() < 1e-12, "{step:?} {e}");
    }

    /// `policy` played from every start of `starts` in the true environment of `m`, `horizon`
    /// steps, under seed 7, the not-skipped reward.
    fn played(
        m: &UserModel,
        starts: &TrueStarts,
        policy: &mut dyn Policy,
        horizon: usize,
        exclude_played: bool,
    ) -> crate::eval::Evaluation {
        let eps = Episodes::empty(exclude_played, 100, horizon);
        let reward = Reward::new([0.0, 0.0, 0.0, 1.0]);
        let mut env = TrueEnv::fixed(m, starts.clone(), eps, reward);
        let songs = crate::encoder::data::SongInputs {
            dim: 1,
            values: vec![0.0; m.tracks.len()],
            transform: crate::encoder::data::InputTransform::Identity,
            catalogue: None,
        };
        let sessions: Vec<usize> = (0..starts.users.len()).collect();
        crate::eval::play(&mut env, policy, &sessions, 7, &songs).unwrap()
    }

    /// Posterior-greedy play weighing `prior`.
    fn posterior(
        m: &UserModel,
        starts: &TrueStarts,
        prior: &[User],
        horizon: usize,
        exclude_played: bool,
        window: Option<usize>,
    ) -> crate::eval::Evaluation {
        let mut p = PosteriorGreedy::with_model(m, prior, &starts.world_track, window);
        played(m, starts, &mut p, horizon, exclude_played)
    }

    #[test]
    fn the_ceilings_play_the_models_greedy_and_planned_choices() {
        let config = UserModelConfig {
            taste: 2.0,
            ..UserModelConfig::default()
        };
        let m = on_a_line(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], config);
        let starts = one_start(&m, user_at(4.0, 0.5), vec![(1u32, 3u8), (2, 0)]);
        let (u, s) = (&starts.users[0], &starts.states[0]);
        let pool: Vec<u32> = (0..6).collect();
        for (kind, want) in [
            (Ceiling::Greedy, m.greedy(u, s, &pool, 4)),
            (Ceiling::Planner, m.plan(u, s, &pool, 4, 8, 8)),
        ] {
            let mut p = Oracle::with_model(&m, kind, &starts, 4);
            let e = played(&m, &starts, &mut p, 4, false);
            // The same choices, so the same expected score, summed in the same order.
            assert_eq!(e.scores[0], want.expected, "{kind:?}");
            assert_eq!(e.policy, kind.name());
        }
    }

    /// A model whose tracks lie at `xs` on a line of the mood space, one cluster, no popularity.
    fn on_a_line(xs: &[f32], config: UserModelConfig) -> UserModel {
        let track = |x: f32| TrackLatent {
            mood: [x, 0.0, 0.0, 0.0],
            cluster: 0,
            popularity: 0.0,
        };
        UserModel {
            config,
            thresholds: [-1.0, 0.0, 1.0],
            tracks: xs.iter().map(|&x| track(x)).collect(),
            clusters: 1,
            position_shift: Vec::new(),
        }
    }

    /// A user whose taste and starting mood are at `at` on that line.
    fn user_at(at: f64, propensity: f64) -> User {
        User {
            taste: [at, 0.0, 0.0, 0.0],
            propensity,
            mood0: [at, 0.0, 0.0, 0.0],
            discovery: NO_DISCOVERY,
        }
    }

    /// One episode start: `user` after the plays of `history`, every model track a sample one.
    fn one_start(m: &UserModel, user: User, history: Vec<(u32, u8)>) -> TrueStarts {
        let mut state = m.start(&user);
        for &(t, _) in &history {
            m.advance(&mut state, t);
        }
        TrueStarts {
            users: vec![user],
            states: vec![state],
            histories: vec![history],
            world_track: (0..m.tracks.len() as u32).collect(),
        }
    }

    #[test]
    fn the_posterior_greedy_reference_weighs_users_by_what_they_heard() {
        // Six tracks on a line, a user who likes the far end; no popularity, no satiation.
        let config = UserModelConfig {
            satiation: 0.0,
            taste: 4.0,
            ..UserModelConfig::default()
        };
        let m = on_a_line(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], config);
        let (truth, decoy) = (user_at(5.0, 6.0), user_at(0.0, 6.0));
        let starts = one_start(&m, truth, vec![(5u32, 3u8), (4, 3)]);
        let state = starts.states[0].clone();
        let score =
            |prior: &[User], exclude: bool| posterior(&m, &starts, prior, 3, exclude, None).mean;
        // Knowing the user, it is the greedy oracle over the same tracks.
        let pool: Vec<u32> = (0..6).collect();
        let greedy = m.greedy(&truth, &state, &pool, 3).expected;
        assert!((score(&[truth], false) - greedy).abs() < 1e-12);
        // A decoy who would have skipped what this listener heard out weighs almost nothing…
        assert!((score(&[decoy, truth], false) - greedy).abs() < 1e-9);
        // …but alone, it leads to the wrong end of the line.
        let misled = score(&[decoy], false);
        assert!(misled < greedy - 0.5, "{misled} vs {greedy}");
        // Played tracks are excluded when asked: tracks 4 and 5 are gone, 3 is the best left.
        let first = posterior(&m, &starts, &[truth], 1, true, None).mean;
        assert!((first - m.not_skip(m.engagement(&truth, &state, 3))).abs() < 1e-12);
    }

    #[test]
    fn a_posterior_window_forgets_older_responses() {
        // Tracks 0-5 on a line and track 6 halfway; taste alone moves the engagement.
        let config = UserModelConfig {
            satiation: 0.0,
            mood: 0.0,
            repeat: 0.0,
            ..UserModelConfig::default()
        };
        let m = on_a_line(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 2.5], config);
        let (truth, decoy) = (user_at(5.0, 1.0), user_at(0.0, 1.0));
        // Track 5 heard out tells the two apart; track 6, as far from both, does not.
        let starts = one_start(&m, truth, vec![(5u32, 3u8), (6, 1)]);
        let state = starts.states[0].clone();
        let score = |window| posterior(&m, &starts, &[decoy, truth], 3, false, window);
        let pool: Vec<u32> = (0..7).collect();
        let greedy = m.greedy(&truth, &state, &pool, 3).expected;
        // Five responses are the whole session (two before, three during): a window that
        // holds them changes nothing.
        for w in [None, Some(5), Some(50)] {
            assert!((score(w).mean - greedy).abs() < 1e-9, "{w:?}");
        }
        // The last response alone leaves the two users level, and the first choice is a
        // guess that costs this listener most of a step.
        let forgetful = score(Some(1));
        assert!(
            forgetful.mean < greedy - 0.3,
            "{} vs {greedy}",
            forgetful.mean
        );
        assert_eq!(forgetful.policy, "posterior greedy, last 1");
    }
}
