//! Reference scores under the true model: what random, popularity, the logging policy, the
//! one-step greedy oracle and a beam-search planner score over a 15-step episode that starts
//! after the first 5 logged plays of a session. The planner's score is the ceiling later stages
//! are measured against; the gap between beam widths says how close to optimal it is.

use serde::{Deserialize, Serialize};

use super::model::{Plan, User, UserState};
use super::world::{World, stream};
use crate::rng::Rng;
use crate::stats::mean_ci;

/// Plays before the episode starts (the starting history) and steps of an episode.
pub const START_STEPS: usize = 5;
pub const HORIZON: usize = 15;
/// Per user, the tracks a planner considers: the best by taste and the nearest to the mood.
pub const POOL: usize = 400;
/// Rollouts per user for the stochastic policies (random, logged).
pub const ROLLOUTS: usize = 8;

/// One policy's score: mean expected not-skipped tracks out of [`HORIZON`], with the half-width
/// of its 95% confidence interval over users.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PolicyScore {
    pub policy: String,
    pub mean: f64,
    pub ci95: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReferenceTable {
    pub users: usize,
    pub horizon: usize,
    pub start_steps: usize,
    pub rows: Vec<PolicyScore>,
}

/// A reference user: the logged start of their session and the state after it.
pub struct Episode {
    pub user: User,
    pub taste: Vec<f64>,
    pub context: usize,
    pub state: UserState,
}

/// The `u`-th reference episode of a world (its own random stream, apart from the logs).
pub fn episode(world: &World, u: usize) -> Episode {
    let mut rng = Rng::stream(world.seed, &[stream::REFERENCE, u as u64]);
    let s = world.draw_session(&mut rng);
    let mut state = world.model.start(&s.user);
    for p in &s.plays[..START_STEPS] {
        world.model.advance(&mut state, p.track);
    }
    Episode {
        taste: world.taste_weights(&s.user),
        user: s.user,
        context: s.context,
        state,
    }
}

/// Expected score of a stochastic policy: the mean over rollouts of the sum of not-skip
/// probabilities along each rollout (the exact expectation given the tracks chosen).
fn rollouts(
    world: &World,
    e: &Episode,
    seed: u64,
    mut choose: impl FnMut(&UserState, &mut Rng) -> u32,
) -> f64 {
    let mut total = 0.0;
    for r in 0..ROLLOUTS {
        let mut rng = Rng::stream(seed, &[r as u64]);
        let mut s = e.state.clone();
        for _ in 0..HORIZON {
            let t = choose(&s, &mut rng);
            total += world.model.not_skip(world.model.engagement(&e.user, &s, t));
            world.model.advance(&mut s, t);
        }
    }
    total / ROLLOUTS as f64
}

/// Names of the reference policies, in table order.
pub const POLICIES: [&str; 6] = [
    "random",
    "popularity",
    "logged",
    "greedy oracle",
    "planner (beam 8)",
    "planner (beam 32)",
];

/// The scores of every reference policy for episode `u`.
pub fn scores(world: &World, u: usize) -> [f64; 6] {
    let e = episode(world, u);
    let m = &world.model;
    let n = world.tracks.len() as u64;
    let seed = Rng::derive(world.seed, &[stream::REFERENCE, u as u64, 1]);
    let random = rollouts(world, &e, seed, |_, rng| rng.below(n) as u32);
    let logged = rollouts(world, &e, seed ^ 1, |s, rng| {
        world.logged_choice(&e.taste, e.context, s, rng)
    });
    // Popularity: the most popular tracks not yet played, in order.
    let mut by_pop: Vec<u32> = (0..n as u32).collect();
    by_pop.sort_by(|a, b| {
        let (pa, pb) = (
            m.tracks[*a as usize].popularity,
            m.tracks[*b as usize].popularity,
        );
        pb.total_cmp(&pa).then(a.cmp(b))
    });
    let popular: Vec<u32> = by_pop
        .into_iter()
        .filter(|t| !e.state.played.contains(t))
        .take(HORIZON)
        .collect();
    let popularity = m.expected_score(&e.user, &e.state, &popular);
    let pool = world.pool(&e.user, &e.state, POOL);
    let plan = |beam| -> Plan { m.plan(&e.user, &e.state, &pool, HORIZON, beam, 8) };
    let greedy = m.greedy(&e.user, &e.state, &pool, HORIZON).expected;
    [
        random,
        popularity,
        logged,
        greedy,
        plan(8).expected,
        plan(32).expected,
    ]
}

/// Scores every reference policy on `users` episodes, in parallel over `threads` (0: all cores).
pub fn table(world: &World, users: usize, threads: usize) -> ReferenceTable {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |x| x.get()),
        t => t,
    }
    .clamp(1, users.max(1));
    let per_user: Vec<[f64; 6]> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                scope.spawn(move || {
                    (w..users)
                        .step_by(threads)
                        .map(|u| (u, scores(world, u)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, [f64; 6])> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect();
        all.sort_by_key(|x| x.0);
        all.into_iter().map(|x| x.1).collect()
    });
    let rows = POLICIES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (mean, ci95) = mean_ci(&per_user.iter().map(|s| s[i]).collect::<Vec<_>>());
            PolicyScore {
                policy: (*name).into(),
                mean,
                ci95,
            }
        })
        .collect();
    ReferenceTable {
        users,
        horizon: HORIZON,
        start_steps: START_STEPS,
        rows,
    }
}
