//! The hidden user model of a synthetic world: how a user responds to a track given their
//! lasting taste, their current mood, their fatigue with what they just heard, repeats and the
//! position in the session. It is what makes the synthetic world a test with a known answer:
//! every policy's true expected score can be computed, and a planner that knows the model gives
//! the upper reference.
//!
//! A track `i` has a point `v_i` in a 4-d mood space (the copula coordinates of energy, valence,
//! danceability and acousticness, each standard normal), a cluster `k_i` (its "genre") and a
//! standardised log popularity `p_i`. A session's user has a taste `θ`, a skip propensity `b` and
//! a starting mood `m₀`. Before track `i` at position `t` the user's engagement is
//!
//! ```text
//! z = b + w_pop·p_i − w_taste·‖v_i − θ‖²/4 − w_mood·‖v_i − m‖²/4 − w_sat·S_i − w_fat·F[k_i]
//!     − w_rep·[i played] + offset(t)
//! S_i = Σ over earlier plays j of γ^(age_j − 1) · exp(−‖v_i − v_j‖² / 2h²)
//! ```
//!
//! and the response is an ordered logit over the four levels: `P(level ≤ j) = σ(c_j − z)` with
//! level 0 = skip_1 (very brief), 1 = skip_2, 2 = skip_3, 3 = not_skipped, so skip_1 ⇒ skip_2 ⇒
//! skip_3 and not_skipped ⇔ ¬skip_3 hold by construction. The thresholds `c_j` are calibrated so
//! that the logged data hit the target rates.
//!
//! After a track the state moves whatever the response: the mood drifts toward the track
//! (`m ← (1−λ)m + λv_i`), fatigue decays and grows on the track's cluster (`F ← γF; F[k_i] += 1`),
//! the track joins the played set (which satiation reads, with the same decay γ) and the position
//! advances. Satiation is what makes history matter most: the user tires of what sounds like
//! what they just heard, so a good session rations the tracks closest to the user's taste and
//! mood, where a greedy choice spends them at once. Because the state does not depend
//! on the responses, a sequence of tracks has an exact expected score (the sum of its not-skip
//! probabilities) and the best plan for a known user is open-loop: [`World::plan`] searches it.
//! Fatigue and mood inertia are what make a one-step greedy choice fall short of that plan.

use serde::{Deserialize, Serialize};

/// Dimensions of the mood space.
pub const MOOD_DIMS: usize = 4;

pub type Mood = [f64; MOOD_DIMS];

/// Rates the logged data should show.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateTargets {
    /// Share of plays with skip_1 (published: 0.4152).
    pub skip_1: f64,
    /// Share of plays with skip_2 (published: 0.5089).
    pub skip_2: f64,
    /// Share of plays not skipped (published: 0.3441); skip_3 is its complement.
    pub not_skipped: f64,
}

impl Default for RateTargets {
    fn default() -> Self {
        RateTargets {
            skip_1: 0.4152,
            skip_2: 0.5089,
            not_skipped: 0.3441,
        }
    }
}

/// Parameters of the hidden user model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UserModelConfig {
    /// Weight of the squared distance between a track and the user's lasting taste.
    pub taste: f64,
    /// Weight of the squared distance between a track and the current mood (continuity).
    pub mood: f64,
    /// How far the mood moves toward each played track, in (0, 1].
    pub mood_rate: f64,
    /// Penalty per unit of fatigue of the track's cluster.
    pub fatigue: f64,
    /// Share of fatigue and satiation left after each step, in [0, 1).
    pub memory_decay: f64,
    /// Penalty for a track already played in the session.
    pub repeat: f64,
    /// Satiation: penalty per unit of recent listening near a track in the mood space (each
    /// earlier play counts `memory_decay^age · exp(−‖v − v_played‖² / (2·satiation_width²))`).
    pub satiation: f64,
    /// Width of the satiation kernel in the mood space.
    pub satiation_width: f64,
    /// Weight of the track's standardised log popularity.
    pub popularity: f64,
    /// Engagement offset at positions 1, 2, 3 (shapes the skip rates at the start of a session).
    pub position_offset: [f64; 3],
    /// Standard deviation of the per-session skip propensity.
    pub propensity_sd: f64,
    /// Standard deviation of the starting mood around the taste, per dimension.
    pub mood_start_sd: f64,
    /// Standard deviation of a taste around its favourite cluster's centre, per dimension.
    pub taste_sd: f64,
    /// Rates the logged data should show (the thresholds are calibrated to them).
    pub targets: RateTargets,
    /// Discovery: engagement gained on the tracks of the user's discovery cluster once the
    /// session has played one of them (0: no discovery cluster).
    pub discovery: f64,
    /// Discovery: engagement lost on the discovery cluster's tracks until then.
    pub discovery_cost: f64,
    /// Target skip_2 rate at positions 1, 2, …: when given, an engagement shift per position
    /// is calibrated so that the logged sessions follow this profile's shape (its mean moved
    /// to `targets.skip_2`). Empty: no shift.
    pub skip_2_by_position: Vec<f64>,
}

impl Default for UserModelConfig {
    fn default() -> Self {
        UserModelConfig {
            taste: 0.7,
            mood: 2.0,
            mood_rate: 0.3,
            fatigue: 0.0,
            memory_decay: 0.5,
            repeat: 3.0,
            satiation: 8.0,
            satiation_width: 1.0,
            popularity: 0.3,
            position_offset: [-1.0, -0.2, 0.0],
            propensity_sd: 0.8,
            mood_start_sd: 0.8,
            taste_sd: 0.5,
            targets: RateTargets::default(),
            discovery: 0.0,
            discovery_cost: 0.0,
            skip_2_by_position: Vec::new(),
        }
    }
}

impl UserModelConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self
            .skip_2_by_position
            .iter()
            .any(|r| !(*r > 0.0 && *r < 1.0))
        {
            return Err("skip_2_by_position rates must be in (0, 1)".into());
        }
        let t = &self.targets;
        let checks = [
            (
                self.mood_rate > 0.0 && self.mood_rate <= 1.0,
                "mood_rate must be in (0, 1]",
            ),
            (
                (0.0..1.0).contains(&self.memory_decay),
                "memory_decay must be in [0, 1)",
            ),
            (
                0.0 < t.skip_1
                    && t.skip_1 < t.skip_2
                    && t.skip_2 < 1.0 - t.not_skipped
                    && t.not_skipped > 0.0,
                "targets need 0 < skip_1 < skip_2 < 1 - not_skipped < 1",
            ),
            (
                [
                    self.taste,
                    self.mood,
                    self.fatigue,
                    self.repeat,
                    self.satiation,
                    self.propensity_sd,
                    self.mood_start_sd,
                    self.taste_sd,
                ]
                .iter()
                .all(|w| w.is_finite() && *w >= 0.0),
                "weights and spreads must be finite and non-negative",
            ),
            (
                self.satiation_width.is_finite() && self.satiation_width > 0.0,
                "satiation_width must be positive",
            ),
            (
                self.popularity.is_finite() && self.position_offset.iter().all(|x| x.is_finite()),
                "popularity and position_offset must be finite",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, why)) => Err((*why).to_owned()),
            None => Ok(()),
        }
    }
}

/// What the model needs of a track.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackLatent {
    pub mood: [f32; MOOD_DIMS],
    pub cluster: u16,
    /// Standardised log popularity.
    pub popularity: f32,
}

/// A session's user, hidden from the learner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct User {
    pub taste: Mood,
    pub propensity: f64,
    pub mood0: Mood,
    /// The cluster the user comes to love once introduced to it ([`NO_DISCOVERY`]: none).
    pub discovery: u16,
}

/// [`User::discovery`] of a world without discovery.
pub const NO_DISCOVERY: u16 = u16::MAX;

/// The user's state before the next track.
#[derive(Clone, Debug, PartialEq)]
pub struct UserState {
    pub mood: Mood,
    /// Fatigue per cluster.
    pub fatigue: Vec<f32>,
    /// Tracks played so far in the session.
    pub played: Vec<u32>,
    /// 1-based position of the next track.
    pub position: u32,
}

/// The hidden model: parameters, calibrated thresholds and every track's latent.
#[derive(Clone, Debug)]
pub struct UserModel {
    pub config: UserModelConfig,
    /// Ordered-logit thresholds c₀ < c₁ < c₂ (levels ≤ 0, ≤ 1, ≤ 2).
    pub thresholds: [f64; 3],
    pub tracks: Vec<TrackLatent>,
    pub clusters: usize,
    /// Engagement shift at positions 1, 2, … calibrated to `config.skip_2_by_position` (empty:
    /// none; positions past its end have none).
    pub position_shift: Vec<f64>,
}

pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn dist2(a: &Mood, b: &[f32; MOOD_DIMS]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - *y as f64).powi(2)).sum()
}

impl UserModel {
    /// The state at the start of a session.
    pub fn start(&self, user: &User) -> UserState {
        UserState {
            mood: user.mood0,
            fatigue: vec![0.0; self.clusters],
            played: Vec::new(),
            position: 1,
        }
    }

    /// The engagement `z` of `user` in `state` for `track`: [`personal`](Self::personal) plus
    /// [`shared`](Self::shared).
    pub fn engagement(&self, user: &User, state: &UserState, track: u32) -> f64 {
        self.personal(user, &state.mood, track)
            + self.shared(state, track)
            + self.discovered(user, &state.played, track)
    }

    /// The discovery term: once `played` holds a track of the user's discovery cluster, every
    /// track gains `discovery`; until then the cluster's own tracks lose `discovery_cost`.
    pub fn discovered(&self, user: &User, played: &[u32], track: u32) -> f64 {
        let d = user.discovery;
        if d == NO_DISCOVERY {
            return 0.0;
        }
        let c = &self.config;
        if played.iter().any(|&p| self.tracks[p as usize].cluster == d) {
            c.discovery
        } else if self.tracks[track as usize].cluster == d {
            -c.discovery_cost
        } else {
            0.0
        }
    }

    /// The part of the engagement that depends on who the user is: the skip propensity and the
    /// distances from the track to the user's taste and to `mood`, their current mood.
    pub fn personal(&self, user: &User, mood: &Mood, track: u32) -> f64 {
        let c = &self.config;
        let t = &self.tracks[track as usize];
        user.propensity
            - c.taste * dist2(&user.taste, &t.mood) / MOOD_DIMS as f64
            - c.mood * dist2(mood, &t.mood) / MOOD_DIMS as f64
    }

    /// The rest of the engagement: popularity, fatigue, repeats, satiation and the position,
    /// the same for every user who heard the same tracks (`state`'s mood is not read).
    pub fn shared(&self, state: &UserState, track: u32) -> f64 {
        let c = &self.config;
        let t = &self.tracks[track as usize];
        let at = state.position as usize - 1;
        let bonus = c.position_offset.get(at).copied().unwrap_or(0.0)
            + self.position_shift.get(at).copied().unwrap_or(0.0);
        let repeat = if state.played.contains(&track) {
            c.repeat
        } else {
            0.0
        };
        let satiation = if c.satiation > 0.0 {
            let inv = 1.0 / (2.0 * c.satiation_width * c.satiation_width);
            // The last play counts fully, each one before it `memory_decay` times less.
            let mut w = 1.0;
            let mut total = 0.0;
            for &p in state.played.iter().rev() {
                let q = &self.tracks[p as usize].mood;
                let d2: f64 = t
                    .mood
                    .iter()
                    .zip(q)
                    .map(|(a, b)| ((a - b) as f64).powi(2))
                    .sum();
                total += w * (-d2 * inv).exp();
                w *= c.memory_decay;
            }
            c.satiation * total
        } else {
            0.0
        };
        c.popularity * t.popularity as f64
            - c.fatigue * state.fatigue[t.cluster as usize] as f64
            - repeat
            - satiation
            + bonus
    }

    /// P(not skipped) at engagement `z`.
    pub fn not_skip(&self, z: f64) -> f64 {
        sigmoid(z - self.thresholds[2])
    }

    /// The four level probabilities (skip_1, skip_2, skip_3, not_skipped) at engagement `z`.
    pub fn levels(&self, z: f64) -> [f64; 4] {
        let c = self.thresholds.map(|c| sigmoid(c - z));
        [c[0], c[1] - c[0], c[2] - c[1], 1.0 - c[2]]
    }

    /// Draws a response level from `u` uniform in [0, 1).
    pub fn level_from_uniform(&self, z: f64, u: f64) -> u8 {
        self.thresholds
            .iter()
            .position(|&c| u < sigmoid(c - z))
            .unwrap_or(3) as u8
    }

    /// Plays `track`: the state moves whatever the response.
    pub fn advance(&self, state: &mut UserState, track: u32) {
        let c = &self.config;
        let t = &self.tracks[track as usize];
        self.drift(&mut state.mood, track);
        let decay = c.memory_decay as f32;
        for f in &mut state.fatigue {
            *f *= decay;
        }
        state.fatigue[t.cluster as usize] += 1.0;
        state.played.push(track);
        state.position += 1;
    }

    /// The mood moves toward `track`.
    pub fn drift(&self, mood: &mut Mood, track: u32) {
        let rate = self.config.mood_rate;
        for (m, v) in mood.iter_mut().zip(self.tracks[track as usize].mood) {
            *m = (1.0 - rate) * *m + rate * v as f64;
        }
    }

    /// The exact expected number of not-skipped tracks when `tracks` are played in order.
    pub fn expected_score(&self, user: &User, state: &UserState, tracks: &[u32]) -> f64 {
        let mut s = state.clone();
        let mut total = 0.0;
        for &t in tracks {
            total += self.not_skip(self.engagement(user, &s, t));
            self.advance(&mut s, t);
        }
        total
    }

    /// The one-step greedy choice among `pool`: the highest P(not skipped) now.
    pub fn greedy_step(&self, user: &User, state: &UserState, pool: &[u32]) -> Option<(u32, f64)> {
        pool.iter()
            .map(|&t| (t, self.engagement(user, state, t)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(t, z)| (t, self.not_skip(z)))
    }

    /// Plays the greedy choice `horizon` times; returns the tracks and their expected score.
    pub fn greedy(&self, user: &User, state: &UserState, pool: &[u32], horizon: usize) -> Plan {
        let mut s = state.clone();
        let mut plan = Plan::default();
        for _ in 0..horizon {
            let Some((t, p)) = self.greedy_step(user, &s, pool) else {
                break;
            };
            plan.tracks.push(t);
            plan.expected += p;
            self.advance(&mut s, t);
        }
        plan
    }

    /// Beam search over `horizon` steps: each of `beam` partial plans is extended by its
    /// `branch` best next tracks of `pool` (by immediate probability), and the `beam` best by
    /// expected score so far are kept. `beam = branch = 1` is the greedy policy, and the result
    /// is never below the greedy plan's (which is kept when the beam loses it).
    pub fn plan(
        &self,
        user: &User,
        state: &UserState,
        pool: &[u32],
        horizon: usize,
        beam: usize,
        branch: usize,
    ) -> Plan {
        struct Node {
            state: UserState,
            plan: Plan,
        }
        let mut nodes = vec![Node {
            state: state.clone(),
            plan: Plan::default(),
        }];
        let mut scored: Vec<(f64, u32)> = Vec::with_capacity(pool.len());
        for _ in 0..horizon {
            let mut children: Vec<(f64, usize, u32, f64)> =
                Vec::with_capacity(nodes.len() * branch);
            for (ni, n) in nodes.iter().enumerate() {
                scored.clear();
                scored.extend(
                    pool.iter()
                        .map(|&t| (self.not_skip(self.engagement(user, &n.state, t)), t)),
                );
                let k = branch.min(scored.len());
                if k == 0 {
                    continue;
                }
                scored
                    .select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                for &(p, t) in &scored[..k] {
                    children.push((n.plan.expected + p, ni, t, p));
                }
            }
            if children.is_empty() {
                break;
            }
            children.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            children.truncate(beam);
            nodes = children
                .into_iter()
                .map(|(total, ni, t, _)| {
                    let parent = &nodes[ni];
                    let mut state = parent.state.clone();
                    self.advance(&mut state, t);
                    let mut plan = parent.plan.clone();
                    plan.tracks.push(t);
                    plan.expected = total;
                    Node { state, plan }
                })
                .collect();
        }
        let best = nodes.into_iter().map(|n| n.plan).next().unwrap_or_default();
        let greedy = self.greedy(user, state, pool, horizon);
        if greedy.expected > best.expected {
            greedy
        } else {
            best
        }
    }
}

/// A sequence of tracks and its exact expected score.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub tracks: Vec<u32>,
    pub expected: f64,
}

/// Thresholds `c` such that the mean of `σ(c_j − z)` over the logged engagements `zs` equals the
/// cumulative target rates (skip_1, skip_2, 1 − not_skipped). Bisection on each: the mean is
/// increasing in `c`.
pub fn calibrate(zs: &[f64], targets: &RateTargets) -> [f64; 3] {
    let cum = [targets.skip_1, targets.skip_2, 1.0 - targets.not_skipped];
    cum.map(|goal| {
        let (mut lo, mut hi) = (-50.0f64, 50.0f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            let mean = zs.iter().map(|&z| sigmoid(mid - z)).sum::<f64>() / zs.len().max(1) as f64;
            if mean < goal {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    })
}

/// Thresholds and a shift per position, from the pilot's `plays` (engagement before any
/// shift, 0-based position): the shifts make the skip_2 rate at each position of `profile`
/// follow its shape, moved so that its mean over the plays is `targets.skip_2`; the
/// thresholds hit `targets` over the shifted engagements. The two are alternated for 20 rounds
/// (a unit test checks that both then hold). Target rates are clamped to [0.01, 0.99].
pub fn calibrate_positions(
    plays: &[(f64, usize)],
    targets: &RateTargets,
    profile: &[f64],
) -> ([f64; 3], Vec<f64>) {
    let n = profile.len();
    let mut at: Vec<Vec<f64>> = vec![Vec::new(); n];
    for &(z, p) in plays {
        if p < n {
            at[p].push(z);
        }
    }
    let counted: usize = at.iter().map(Vec::len).sum();
    let mean = (profile.iter().zip(&at))
        .map(|(t, zs)| t * zs.len() as f64)
        .sum::<f64>()
        / counted.max(1) as f64;
    let goal: Vec<f64> = profile
        .iter()
        .map(|t| (t + targets.skip_2 - mean).clamp(0.01, 0.99))
        .collect();
    let mut shift = vec![0.0; n];
    let shifted = |shift: &[f64]| -> Vec<f64> {
        (plays.iter())
            .map(|&(z, p)| z + shift.get(p).copied().unwrap_or(0.0))
            .collect()
    };
    for _ in 0..20 {
        let thresholds = calibrate(&shifted(&shift), targets);
        for (p, zs) in at.iter().enumerate() {
            if zs.is_empty() {
                continue;
            }
            // P(skip_2) = σ(c₁ − z − δ) falls as δ grows.
            let (mut lo, mut hi) = (-20.0f64, 20.0f64);
            for _ in 0..60 {
                let mid = 0.5 * (lo + hi);
                let rate = zs
                    .iter()
                    .map(|z| sigmoid(thresholds[1] - z - mid))
                    .sum::<f64>()
                    / zs.len() as f64;
                if rate > goal[p] {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            shift[p] = 0.5 * (lo + hi);
        }
    }
    (calibrate(&shifted(&shift), targets), shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with round weights for hand computation (not the defaults).
    fn model(tracks: Vec<TrackLatent>, clusters: usize) -> UserModel {
        UserModel {
            config: UserModelConfig {
                taste: 1.0,
                mood: 1.0,
                mood_rate: 0.3,
                fatigue: 0.6,
                memory_decay: 0.85,
                repeat: 3.0,
                satiation: 0.0,
                satiation_width: 1.0,
                popularity: 0.3,
                position_offset: [0.7, 0.3, 0.1],
                ..UserModelConfig::default()
            },
            thresholds: [-1.0, 0.0, 1.0],
            tracks,
            clusters,
            position_shift: Vec::new(),
        }
    }

    fn track(x: f32, cluster: u16) -> TrackLatent {
        TrackLatent {
            mood: [x, 0.0, 0.0, 0.0],
            cluster,
            popularity: 0.0,
        }
    }

    #[test]
    fn levels_are_a_distribution_and_match_thresholds() {
        let m = model(vec![track(0.0, 0)], 1);
        for z in [-3.0, 0.0, 0.5, 4.0] {
            let l = m.levels(z);
            assert!((l.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(l.iter().all(|p| *p >= 0.0));
            assert!((l[3] - m.not_skip(z)).abs() < 1e-12);
        }
        // At z = 0: P(level ≤ 0) = σ(−1) = 0.2689, P(≤ 1) = 0.5, P(≤ 2) = σ(1) = 0.7311.
        let l = m.levels(0.0);
        assert!((l[0] - 0.268_941).abs() < 1e-6);
        assert!((l[0] + l[1] - 0.5).abs() < 1e-12);
        assert_eq!(m.level_from_uniform(0.0, 0.2), 0);
        assert_eq!(m.level_from_uniform(0.0, 0.6), 2);
        assert_eq!(m.level_from_uniform(0.0, 0.8), 3);
    }

    #[test]
    fn engagement_by_hand_and_state_moves() {
        let m = model(vec![track(1.0, 0), track(-1.0, 1)], 2);
        let user = User {
            taste: [1.0, 0.0, 0.0, 0.0],
            propensity: 0.2,
            mood0: [0.0; 4],
            discovery: NO_DISCOVERY,
        };
        let mut s = m.start(&user);
        // z = 0.2 + 0 − 1·0/4 − 1·1/4 − 0 − 0 + 0.7 = 0.65 at position 1.
        assert!((m.engagement(&user, &s, 0) - 0.65).abs() < 1e-12);
        m.advance(&mut s, 0);
        assert_eq!(s.position, 2);
        assert!((s.mood[0] - 0.3).abs() < 1e-12);
        assert_eq!(s.fatigue, vec![1.0, 0.0]);
        // Again track 0: mood distance 0.49, fatigue 1, repeat 3, bonus 0.3:
        // z = 0.2 − 0.49/4 − 0.6 − 3 + 0.3 = −3.2225.
        assert!((m.engagement(&user, &s, 0) + 3.2225).abs() < 1e-9);
        m.advance(&mut s, 1);
        assert!((s.fatigue[0] - 0.85).abs() < 1e-6);
    }

    #[test]
    fn discovery_costs_on_its_cluster_until_heard_then_pays_on_every_track() {
        let mut m = model(vec![track(1.0, 0), track(-1.0, 1), track(0.0, 1)], 2);
        m.config.discovery = 1.5;
        m.config.discovery_cost = 0.5;
        let mut user = User {
            taste: [1.0, 0.0, 0.0, 0.0],
            propensity: 0.2,
            mood0: [0.0; 4],
            discovery: 1,
        };
        let mut s = m.start(&user);
        // Before: only cluster 1's tracks lose the cost; the engagement adds the term.
        assert_eq!(m.discovered(&user, &s.played, 0), 0.0);
        assert_eq!(m.discovered(&user, &s.played, 1), -0.5);
        let without = m.personal(&user, &s.mood, 1) + m.shared(&s, 1);
        assert!((m.engagement(&user, &s, 1) - (without - 0.5)).abs() < 1e-12);
        // Track 0 (cluster 0) changes nothing; track 2 (cluster 1) introduces the cluster.
        m.advance(&mut s, 0);
        assert_eq!(m.discovered(&user, &s.played, 1), -0.5);
        m.advance(&mut s, 2);
        for t in 0..3 {
            assert_eq!(m.discovered(&user, &s.played, t), 1.5);
        }
        // A user without a discovery cluster is never touched.
        user.discovery = NO_DISCOVERY;
        assert_eq!(m.discovered(&user, &s.played, 1), 0.0);
    }

    #[test]
    fn position_calibration_follows_the_profiles_shape_at_the_target_rates() {
        // Engagements that rise with the position (as discovery makes them), 3 positions.
        let mut rng = crate::rng::Rng::new(3);
        let plays: Vec<(f64, usize)> = (0..30_000)
            .map(|i| (rng.normal() + (i % 3) as f64, i % 3))
            .collect();
        let targets = RateTargets::default();
        let profile = [0.40, 0.52, 0.56];
        let (th, shift) = calibrate_positions(&plays, &targets, &profile);
        let rate = |p: usize, level: usize| {
            let at: Vec<f64> = plays.iter().filter(|x| x.1 == p).map(|x| x.0).collect();
            at.iter()
                .map(|z| sigmoid(th[level] - z - shift[p]))
                .sum::<f64>()
                / at.len() as f64
        };
        // The profile's mean (0.4933) is moved to skip_2's 0.5089: +0.0156 at every position.
        for (p, t) in profile.iter().enumerate() {
            assert!(
                (rate(p, 1) - (t + 0.015_6)).abs() < 2e-3,
                "{p}: {}",
                rate(p, 1)
            );
        }
        // Over all plays the three rates are the targets.
        let all = |level: usize| (0..3).map(|p| rate(p, level)).sum::<f64>() / 3.0;
        assert!((all(0) - targets.skip_1).abs() < 2e-3);
        assert!((all(1) - targets.skip_2).abs() < 1e-3);
        assert!((all(2) - (1.0 - targets.not_skipped)).abs() < 2e-3);
    }

    #[test]
    fn satiation_by_hand() {
        let mut m = model(vec![track(1.0, 0), track(-1.0, 1), track(0.0, 2)], 3);
        m.config.satiation = 2.0;
        m.config.fatigue = 0.0;
        m.config.mood = 0.0;
        m.config.taste = 0.0;
        let user = User {
            taste: [0.0; 4],
            propensity: 0.0,
            mood0: [0.0; 4],
            discovery: NO_DISCOVERY,
        };
        let mut s = m.start(&user);
        m.advance(&mut s, 0);
        m.advance(&mut s, 1);
        // Track 2 at position 3: the last play (track 1, distance² 1) counts fully, the one
        // before (track 0, distance² 1) with 0.85: S = e^(−1/2)·(1 + 0.85) = 1.122082;
        // z = −2·S + 0.1 = −2.144163.
        let z = m.engagement(&user, &s, 2);
        assert!((z + 2.144_163).abs() < 1e-6, "{z}");
    }

    #[test]
    fn no_memory_and_bad_configs() {
        let mut m = model(vec![track(1.0, 0), track(0.0, 1)], 2);
        m.config.satiation = 2.0;
        m.config.memory_decay = 0.0;
        let user = User {
            taste: [0.0; 4],
            propensity: 0.0,
            mood0: [0.0; 4],
            discovery: NO_DISCOVERY,
        };
        let mut s = m.start(&user);
        m.advance(&mut s, 0);
        m.advance(&mut s, 0);
        // Only the last play counts: S = e^(−1/2) for track 1, finite.
        let z = m.engagement(&user, &s, 1);
        assert!(z.is_finite());
        let bad = |f: fn(&mut UserModelConfig)| {
            let mut c = UserModelConfig::default();
            f(&mut c);
            c.validate().is_err()
        };
        assert!(bad(|c| c.satiation_width = 0.0));
        assert!(bad(|c| c.satiation = f64::NAN));
        assert!(bad(|c| c.position_offset[1] = f64::INFINITY));
        assert!(bad(|c| c.memory_decay = 1.0));
        assert!(UserModelConfig::default().validate().is_ok());
    }

    #[test]
    fn calibration_hits_the_targets() {
        let zs: Vec<f64> = (0..1000).map(|i| (i as f64 / 100.0) - 5.0).collect();
        let t = RateTargets::default();
        let c = calibrate(&zs, &t);
        let rate = |c: f64| zs.iter().map(|&z| sigmoid(c - z)).sum::<f64>() / zs.len() as f64;
        assert!((rate(c[0]) - t.skip_1).abs() < 1e-9);
        assert!((rate(c[1]) - t.skip_2).abs() < 1e-9);
        assert!((rate(c[2]) - (1.0 - t.not_skipped)).abs() < 1e-9);
        assert!(c[0] < c[1] && c[1] < c[2]);
    }

    #[test]
    fn beam_search_finds_the_exhaustive_optimum_on_a_tiny_world() {
        // 6 tracks in 3 clusters, horizon 4: compare with all 6^4 sequences.
        let tracks: Vec<TrackLatent> = (0..6)
            .map(|i| TrackLatent {
                mood: [i as f32 * 0.4 - 1.0, (i % 2) as f32, 0.0, 0.5],
                cluster: (i % 3) as u16,
                popularity: (i as f32 - 2.5) / 3.0,
            })
            .collect();
        let mut m = model(tracks, 3);
        m.config.fatigue = 1.5;
        let user = User {
            taste: [0.8, 1.0, 0.0, 0.5],
            propensity: 0.0,
            mood0: [-1.0, 0.0, 0.0, 0.0],
            discovery: NO_DISCOVERY,
        };
        let s = m.start(&user);
        let pool: Vec<u32> = (0..6).collect();
        let mut best = f64::MIN;
        for code in 0..6u32.pow(4) {
            let seq: Vec<u32> = (0..4).map(|k| (code / 6u32.pow(k)) % 6).collect();
            best = best.max(m.expected_score(&user, &s, &seq));
        }
        // A beam as wide as all 6^4 sequences makes the search exhaustive.
        let plan = m.plan(&user, &s, &pool, 4, 1296, 6);
        assert!(
            (plan.expected - best).abs() < 1e-9,
            "{} vs {best}",
            plan.expected
        );
        assert!((m.expected_score(&user, &s, &plan.tracks) - plan.expected).abs() < 1e-9);
        let greedy = m.greedy(&user, &s, &pool, 4);
        assert_eq!(greedy, m.plan(&user, &s, &pool, 4, 1, 1));
        assert!(greedy.expected <= best + 1e-12);
    }
}
