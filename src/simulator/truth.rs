//! Scores under the true model of a synthetic world: any [`Policy`] played against the hidden
//! users of held-out sessions, its reward each step the exact probability that the user hears
//! the track out, and the oracle ceilings (the greedy oracle and a beam-search planner that
//! know the user's hidden taste and state).
//!
//! Episodes start from the same sessions as the simulator's ([`start_sessions`] with the same
//! seed), so a policy's true and simulated scores are measured on the same starting histories.

use serde::{Deserialize, Serialize};

use crate::data::{Sample, Split};
use crate::encoder::Encoder;
use crate::rng::Rng;
use crate::synth::model::{Mood, User, UserModel, UserState};
use crate::synth::saved::SavedWorld;

use super::episode::{Episodes, expected_reward, mean_ci, start_sessions};
use super::policy::Policy;

/// A policy's exact expected score under the true model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrueScore {
    pub policy: String,
    pub episodes: usize,
    pub mean: f64,
    pub ci95: f64,
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
fn world_tracks(world: &SavedWorld, sample: &Sample) -> Result<Vec<u32>, String> {
    sample
        .tracks
        .iter()
        .map(|id| {
            world
                .track(id)
                .ok_or_else(|| format!("track {id} of the sample is not in the world model"))
        })
        .collect()
}

/// The hidden user of a sample session.
fn session_user(world: &SavedWorld, session: &str) -> Result<User, String> {
    world
        .user(session)
        .copied()
        .ok_or_else(|| format!("session {session} of the sample is not in the world model"))
}

/// Episode starts of `split`'s sessions under `seed` (as the simulator draws them), with each
/// session's hidden user and state.
pub fn true_starts(
    world: &SavedWorld,
    sample: &Sample,
    split: Split,
    steps: usize,
    n: usize,
    seed: u64,
) -> Result<TrueStarts, String> {
    let mut out = TrueStarts {
        users: Vec::new(),
        states: Vec::new(),
        histories: Vec::new(),
        world_track: world_tracks(world, sample)?,
    };
    for i in start_sessions(sample, split, steps, n, seed) {
        let s = &sample.sessions[i];
        let user = session_user(world, &s.id)?;
        let mut state = world.model.start(&user);
        let rows = &sample.rows_of(s)[..steps];
        for r in rows {
            world
                .model
                .advance(&mut state, out.world_track[r.track as usize]);
        }
        out.users.push(user);
        out.states.push(state);
        out.histories.push(
            rows.iter()
                .map(|r| (r.track, r.flags.response_level()))
                .collect(),
        );
    }
    Ok(out)
}

/// The true model's probability that each logged play of `split` was heard out, in the order of
/// [`transitions`](super::memory::transitions) (every play after a session's first): each
/// session's hidden user replayed through the tracks before it. Against the plays' outcomes it
/// is the best fidelity any simulator could reach on these transitions.
pub fn true_probabilities(
    world: &SavedWorld,
    sample: &Sample,
    split: Split,
) -> Result<Vec<f64>, String> {
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

/// The hidden users of [`Episodes`] in progress: an environment that answers with the true
/// model instead of a simulator (`segue train --world`, a diagnostic of what the simulator
/// costs a learner).
pub struct TrueEnv<'a> {
    model: &'a UserModel,
    starts: TrueStarts,
}

impl<'a> TrueEnv<'a> {
    /// The environment of `starts` under `model`; `starts.histories` start the episodes.
    pub fn new(model: &'a UserModel, starts: TrueStarts) -> TrueEnv<'a> {
        TrueEnv { model, starts }
    }

    pub fn histories(&self) -> &[Vec<(u32, u8)>] {
        &self.starts.histories
    }

    /// Plays `actions` (one track per episode): each user's response level is drawn from the
    /// true model with the episode's response stream, its reward is `rewards[level]`, and the
    /// user's state moves with the track.
    pub fn step(
        &mut self,
        eps: &mut Episodes,
        actions: &[u32],
        rewards: [f64; 4],
    ) -> Vec<TrueStep> {
        let m = self.model;
        let s = &mut self.starts;
        (0..actions.len())
            .map(|i| {
                let wt = s.world_track[actions[i] as usize];
                let z = m.engagement(&s.users[i], &s.states[i], wt);
                let level = m.level_from_uniform(z, eps.uniform(i));
                m.advance(&mut s.states[i], wt);
                let reward = rewards[level as usize];
                eps.record(i, actions[i], level, reward);
                TrueStep {
                    level,
                    reward,
                    expected: expected_reward(&m.levels(z), &rewards),
                    not_skip: m.not_skip(z),
                }
            })
            .collect()
    }
}

/// One episode's step against the true model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrueStep {
    /// The response drawn, and its reward.
    pub level: u8,
    pub reward: f64,
    /// The reward's expectation under the model's level probabilities.
    pub expected: f64,
    /// The exact probability that the track was heard out.
    pub not_skip: f64,
}

/// The response streams of [`true_evaluate`]'s episodes ("TRUE").
const TRUE_STREAM: u64 = 0x5452_5545;

/// Plays `policy` against the true model for `horizon` steps from `starts`: the reward of a
/// step is the exact not-skip probability of the track; the response the history records is
/// drawn from the model with episode `i`'s stream of `seed`.
pub fn true_evaluate(
    world: &SavedWorld,
    encoder: &Encoder,
    policy: &mut dyn Policy,
    starts: &TrueStarts,
    horizon: usize,
    exclude_played: bool,
    seed: u64,
) -> TrueScore {
    let mut env = TrueEnv::new(&world.model, starts.clone());
    let keep = encoder.model.steps;
    let mut eps = Episodes::with(&starts.histories, exclude_played, keep, seed, TRUE_STREAM);
    let mut policy_rng = Rng::stream(seed, &[0x0050_4f4c]);
    let mut scores = vec![0.0; eps.len()];
    for _ in 0..horizon {
        let latent = encoder.encode(&eps.histories);
        let actions = policy.act(&eps.observations(&latent), &mut policy_rng);
        // The score counts the exact probabilities, not the draws the histories record.
        let steps = env.step(&mut eps, &actions, [0.0; 4]);
        for (score, step) in scores.iter_mut().zip(&steps) {
            *score += step.not_skip;
        }
    }
    let (mean, ci95) = mean_ci(&scores);
    TrueScore {
        policy: policy.name(),
        episodes: scores.len(),
        mean,
        ci95,
    }
}

/// The ceilings: the greedy oracle (the track with the highest not-skip probability now, every
/// step) and a beam-search planner (beam 8), both over the whole catalogue and knowing each
/// user's hidden taste and state.
pub fn oracles(world: &SavedWorld, starts: &TrueStarts, horizon: usize) -> [TrueScore; 2] {
    let m = &world.model;
    let pool: Vec<u32> = (0..m.tracks.len() as u32).collect();
    let (mut greedy, mut planner) = (Vec::new(), Vec::new());
    for (u, s) in starts.users.iter().zip(&starts.states) {
        greedy.push(m.greedy(u, s, &pool, horizon).expected);
        planner.push(m.plan(u, s, &pool, horizon, 8, 8).expected);
    }
    let score = |name: &str, x: &[f64]| {
        let (mean, ci95) = mean_ci(x);
        TrueScore {
            policy: name.into(),
            episodes: x.len(),
            mean,
            ci95,
        }
    };
    [
        score("greedy oracle", &greedy),
        score("planner (beam 8)", &planner),
    ]
}

/// The hidden users of `split`'s sessions, at most `max` of them (a draw under `seed` when
/// there are more): the population [`posterior_greedy`] starts from.
pub fn split_users(
    world: &SavedWorld,
    sample: &Sample,
    split: Split,
    max: usize,
    seed: u64,
) -> Result<Vec<User>, String> {
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
/// Responses are drawn as [`true_evaluate`] draws them (the same streams), and the score
/// counts the true user's exact probabilities. `prior` may not be empty.
///
/// With `window = Some(w)` only the last `w` responses weigh the users (every user is kept;
/// none is dropped), as a policy whose state holds the last `w` plays hears them. What was
/// played before still moves every candidate's mood and the shared state, as the track
/// sequence is known: the window limits what is learned of the user, not of the session.
pub fn posterior_greedy(
    model: &UserModel,
    starts: &TrueStarts,
    prior: &[User],
    horizon: usize,
    exclude_played: bool,
    window: Option<usize>,
    seed: u64,
) -> TrueScore {
    use rayon::prelude::*;
    assert!(!prior.is_empty(), "a posterior needs prior users");
    assert!(
        window != Some(0),
        "a posterior window holds at least one response"
    );
    let play = EpisodePlay {
        horizon,
        exclude_played,
        window,
        seed,
    };
    let scores: Vec<f64> = (0..starts.users.len())
        .into_par_iter()
        .map(|i| posterior_episode(model, starts, i, prior, &play))
        .collect();
    let (mean, ci95) = mean_ci(&scores);
    TrueScore {
        policy: match window {
            None => "posterior greedy".into(),
            Some(w) => format!("posterior greedy, last {w}"),
        },
        episodes: scores.len(),
        mean,
        ci95,
    }
}

/// Users whose weight falls below the largest by this factor (in log) are dropped: at that
/// moment they move no posterior mean by more than `prior.len()·e^-30`, and they are not
/// brought back if later responses would have favoured them.
const NEGLIGIBLE_LOG_WEIGHT: f64 = 30.0;

/// How [`posterior_greedy`] plays each episode.
struct EpisodePlay {
    horizon: usize,
    exclude_played: bool,
    window: Option<usize>,
    seed: u64,
}

/// One episode of [`posterior_greedy`]: its exact score.
fn posterior_episode(
    m: &UserModel,
    starts: &TrueStarts,
    i: usize,
    prior: &[User],
    play: &EpisodePlay,
) -> f64 {
    let &EpisodePlay {
        horizon,
        exclude_played,
        window,
        seed,
    } = play;
    let wt = &starts.world_track;
    let mut rng = Rng::stream(seed, &[TRUE_STREAM, i as u64]);
    let (user, mut truth) = (&starts.users[i], starts.states[i].clone());
    // The state every candidate user shares (what was played, the position); its mood is
    // never read (each candidate's is in `moods`).
    let mut heard = m.start(user);
    let mut moods: Vec<Mood> = prior.iter().map(|u| u.mood0).collect();
    let mut log_w = vec![0.0f64; prior.len()];
    let mut live: Vec<usize> = (0..prior.len()).collect();
    // With a window: each response's log-likelihood per user, oldest first.
    let mut terms: std::collections::VecDeque<Vec<f64>> = Default::default();
    let mut observe = |track: u32,
                       level: u8,
                       heard: &mut UserState,
                       moods: &mut [Mood],
                       log_w: &mut [f64],
                       live: &mut Vec<usize>| {
        let shared = m.shared(heard, track);
        let mut term = vec![0.0; if window.is_some() { prior.len() } else { 0 }];
        for &k in live.iter() {
            let z = m.personal(&prior[k], &moods[k], track) + shared;
            let l = m.levels(z)[level as usize].max(f64::MIN_POSITIVE).ln();
            match window {
                None => log_w[k] += l,
                Some(_) => term[k] = l,
            }
            m.drift(&mut moods[k], track);
        }
        m.advance(heard, track);
        if let Some(w) = window {
            terms.push_back(term);
            if terms.len() > w {
                terms.pop_front();
            }
            for (k, lw) in log_w.iter_mut().enumerate() {
                *lw = terms.iter().map(|t| t[k]).sum();
            }
            return;
        }
        let top = live
            .iter()
            .map(|&k| log_w[k])
            .fold(f64::NEG_INFINITY, f64::max);
        live.retain(|&k| log_w[k] > top - NEGLIGIBLE_LOG_WEIGHT);
    };
    let mut excluded: Vec<bool> = vec![false; wt.len()];
    for &(t, level) in &starts.histories[i] {
        observe(
            wt[t as usize],
            level,
            &mut heard,
            &mut moods,
            &mut log_w,
            &mut live,
        );
        excluded[t as usize] |= exclude_played;
    }
    let mut total = 0.0;
    for _ in 0..horizon {
        let top = live
            .iter()
            .map(|&k| log_w[k])
            .fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = live.iter().map(|&k| (log_w[k] - top).exp()).collect();
        let mut best: Option<(u32, f64)> = None;
        for (j, &track) in wt.iter().enumerate() {
            if excluded[j] {
                continue;
            }
            let shared = m.shared(&heard, track);
            let p: f64 = live
                .iter()
                .zip(&w)
                .map(|(&k, w)| w * m.not_skip(m.personal(&prior[k], &moods[k], track) + shared))
                .sum();
            if best.is_none_or(|(_, b)| p > b) {
                best = Some((j as u32, p));
            }
        }
        let Some((j, _)) = best else { break };
        let track = wt[j as usize];
        let z = m.engagement(user, &truth, track);
        let level = m.level_from_uniform(z, rng.f64());
        total += m.not_skip(z);
        m.advance(&mut truth, track);
        observe(track, level, &mut heard, &mut moods, &mut log_w, &mut live);
        excluded[j as usize] |= exclude_played;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::model::{TrackLatent, UserModelConfig};

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
        };
        // A user who hears everything out, one who skips everything, one in between.
        let user = |propensity: f64| User {
            taste: [0.0; 4],
            propensity,
            mood0: [0.0; 4],
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
        let mut env = TrueEnv::new(&m, starts);
        let mut eps = Episodes::with(env.histories(), true, 2, 9, 0x4550);
        let rewards = [0.0, 0.0, 0.0, 1.0];
        let steps = env.step(&mut eps, &[1, 2, 2], rewards);
        assert_eq!((steps[0].level, steps[0].reward), (3, 1.0));
        assert_eq!((steps[1].level, steps[1].reward), (0, 0.0));
        // The third level is the model's, drawn from episode 2's stream.
        let z = m.engagement(&users[2], &states[2], 0);
        let u = Rng::stream(9, &[0x4550, 2]).f64();
        assert_eq!(steps[2].level, m.level_from_uniform(z, u));
        assert_eq!(steps[2].reward, rewards[steps[2].level as usize]);
        assert_eq!(eps.histories[0], vec![(0, 3), (1, 3)]);
        assert_eq!(eps.excluded[1], vec![0, 2]);
        assert_eq!(eps.scores[..2], [1.0, 0.0]);
        // The users moved with the model's tracks: a second play of the same track is a repeat.
        assert_eq!(env.starts.states[1].played, vec![0]);
        let again = m.engagement(&users[2], &env.starts.states[2], 0);
        assert!(again < z - 2.9, "{again} vs {z}");
        // The expected reward weighs the rewards by the model's level probabilities.
        assert!((steps[0].expected - 1.0).abs() < 1e-12 && steps[1].expected.abs() < 1e-12);
        assert!((steps[2].expected - m.not_skip(z)).abs() < 1e-12);
        let graded = [0.0, 0.25, 0.5, 1.0];
        let one = TrueStarts {
            users: vec![users[2]],
            states: vec![states[2].clone()],
            histories: vec![vec![(0, 3)]],
            world_track: vec![2, 1, 0],
        };
        let mut eps = Episodes::with(&one.histories, true, 2, 9, 0x4550);
        let step = TrueEnv::new(&m, one).step(&mut eps, &[2], graded)[0];
        let p = m.levels(z);
        let e: f64 = (0..4).map(|j| p[j] * graded[j]).sum();
        assert!(e > 0.1 && e < 0.9, "{e}");
        assert!((step.expected - e).abs() < 1e-12, "{step:?} {e}");
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
        }
    }

    /// A user whose taste and starting mood are at `at` on that line.
    fn user_at(at: f64, propensity: f64) -> User {
        User {
            taste: [at, 0.0, 0.0, 0.0],
            propensity,
            mood0: [at, 0.0, 0.0, 0.0],
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
        let score = |prior: &[User], exclude: bool| {
            posterior_greedy(&m, &starts, prior, 3, exclude, None, 7).mean
        };
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
        let first = posterior_greedy(&m, &starts, &[truth], 1, true, None, 7).mean;
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
        let score = |window| posterior_greedy(&m, &starts, &[decoy, truth], 3, false, window, 7);
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
