//! Building a synthetic world: clusters of tracks with official-style features, users, the
//! logging policy that produced the sessions, and the saved model (`world.json`, `world.bin`)
//! that lets later stages score any policy exactly.

use serde::{Deserialize, Serialize};

pub use super::features::Track;
use super::features::{self, FeatureSpace, MOOD_FEATURES};
use super::model::{
    MOOD_DIMS, Mood, NO_DISCOVERY, TrackLatent, User, UserModel, UserModelConfig, UserState,
    calibrate, calibrate_positions,
};
use crate::data::ids::id_key;
use crate::rng::Rng;

/// Random streams of a world, under its master seed.
pub mod stream {
    pub const CATALOGUE: u64 = 1;
    pub const PILOT: u64 = 2;
    pub const FILE: u64 = 3;
    pub const REFERENCE: u64 = 4;
}

/// How the logged sessions chose their tracks (the "logging policy").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Per context type (in [`CONTEXTS`] order): probability of staying in the previous track's
    /// cluster, and of picking from the user's favourite clusters; the rest is a globally
    /// popular track.
    pub continue_taste: [[f64; 2]; 6],
    /// Attempts at avoiding a track already played in the session.
    pub repeat_retries: u32,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            continue_taste: [
                [0.30, 0.60], // user_collection: the user's own library
                [0.35, 0.25], // catalog: browsing
                [0.60, 0.25], // editorial_playlist
                [0.65, 0.20], // radio
                [0.45, 0.45], // personalized_playlist
                [0.30, 0.15], // charts
            ],
            repeat_retries: 3,
        }
    }
}

/// Context types with their shares of rows in log_mini.csv (MSSD_NOTES.md).
pub const CONTEXTS: [(&str, f64); 6] = [
    ("user_collection", 67_430.0),
    ("catalog", 38_263.0),
    ("editorial_playlist", 35_663.0),
    ("radio", 21_107.0),
    ("personalized_playlist", 2_976.0),
    ("charts", 2_441.0),
];

/// skip_2 rate at positions 1-20 of the real sample (`segue stats` on it; docs/data.md has the
/// source and how it compares with the published profile).
pub const SKIP_2_BY_POSITION: [f64; 20] = [
    0.38, 0.47, 0.51, 0.53, 0.54, 0.55, 0.55, 0.54, 0.53, 0.52, 0.52, 0.53, 0.53, 0.54, 0.54, 0.53,
    0.53, 0.52, 0.54, 0.54,
];

/// Shares of session lengths 10..=20 in the full training set (MSSD_NOTES.md).
pub const LENGTH_SHARES: [f64; 11] = [8.8, 7.7, 6.7, 5.9, 5.2, 4.5, 4.0, 3.5, 3.1, 2.8, 47.7];

/// The catalogue and users of a world.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WorldConfig {
    /// Number of track clusters ("genres").
    pub clusters: usize,
    /// Share of a track's copula variance explained by its cluster, in [0, 1).
    pub cluster_share: f64,
    /// Zipf exponent of track popularity.
    pub zipf: f64,
    /// Spread of cluster popularity (standard deviation of its log weight).
    pub cluster_popularity_sd: f64,
    /// Sessions simulated to calibrate the response thresholds.
    pub pilot_sessions: usize,
    pub user: UserModelConfig,
    pub logging: LoggingConfig,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            clusters: 32,
            cluster_share: 0.6,
            zipf: 0.9,
            cluster_popularity_sd: 0.7,
            pilot_sessions: 4_000,
            user: UserModelConfig::default(),
            logging: LoggingConfig::default(),
        }
    }
}

/// Ready-made worlds for `segue synth --preset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// A world where planning matters: discovery (3, cost 0.5), calibrated to the real
    /// sample's skip_2 by position (docs/data.md, docs/results.md).
    Sequential,
}

impl Preset {
    /// Sets the preset's keys of `user`, leaving the others as they are.
    pub fn apply(self, user: &mut UserModelConfig) {
        match self {
            Preset::Sequential => {
                user.discovery = 3.0;
                user.discovery_cost = 0.5;
                user.skip_2_by_position = SKIP_2_BY_POSITION.to_vec();
            }
        }
    }
}

/// A world: catalogue, clusters, popularity, and the calibrated user model.
#[derive(Clone, Debug)]
pub struct World {
    pub config: WorldConfig,
    pub seed: u64,
    pub tracks: Vec<Track>,
    pub model: UserModel,
    /// Cluster centres in the mood space, and their popularity weights.
    pub centres: Vec<Mood>,
    pub cluster_weights: Vec<f64>,
    /// Popularity weights per track, cumulative: over all tracks and within each cluster.
    pub global_cdf: Vec<f64>,
    pub members: Vec<Vec<u32>>,
    pub member_cdf: Vec<Vec<f64>>,
}

/// One logged play.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Play {
    pub track: u32,
    pub level: u8,
    /// The engagement the hidden model computed.
    pub z: f64,
}

/// A generated session before it is written.
#[derive(Clone, Debug)]
pub struct SessionDraw {
    pub user: User,
    pub context: usize,
    pub plays: Vec<Play>,
}

impl World {
    /// Builds the catalogue of `n_tracks` tracks and calibrates the model.
    pub fn build(config: WorldConfig, n_tracks: usize, seed: u64) -> Result<World, String> {
        config.user.validate()?;
        if config.clusters == 0 || config.clusters > u16::MAX as usize || n_tracks == 0 {
            return Err("need at least one cluster (at most 65,535) and one track".into());
        }
        if !(0.0..1.0).contains(&config.cluster_share) {
            return Err("cluster_share must be in [0, 1)".into());
        }
        if config.pilot_sessions == 0 {
            return Err(
                "pilot_sessions must be positive (the thresholds are calibrated on them)".into(),
            );
        }
        if !(config.zipf.is_finite() && config.cluster_popularity_sd.is_finite()) {
            return Err("zipf and cluster_popularity_sd must be finite".into());
        }
        let space = FeatureSpace::new();
        let mut rng = Rng::stream(seed, &[stream::CATALOGUE]);
        let k = config.clusters;
        let centres_full: Vec<[f64; 18]> = (0..k)
            .map(|_| {
                space
                    .correlated(&mut rng)
                    .map(|x| x * config.cluster_share.sqrt())
            })
            .collect();
        let cluster_weights: Vec<f64> = (0..k)
            .map(|_| (config.cluster_popularity_sd * rng.normal()).exp())
            .collect();
        let cluster_cdf = cumulative(&cluster_weights);
        // Popularity: Zipf over ranks, ranks in random order.
        let mut ranks: Vec<u32> = (0..n_tracks as u32).collect();
        for i in (1..ranks.len()).rev() {
            ranks.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let noise_scale = (1.0 - config.cluster_share).sqrt();
        let mut tracks = Vec::with_capacity(n_tracks);
        let mut latents = Vec::with_capacity(n_tracks);
        let mut weights = Vec::with_capacity(n_tracks);
        for &rank in &ranks {
            let c = rng.pick_cdf(&cluster_cdf);
            let noise = space.correlated(&mut rng);
            let mut z: [f64; 18] =
                std::array::from_fn(|j| centres_full[c][j] + noise_scale * noise[j]);
            let rank = rank as f64;
            // us_popularity_estimate follows the popularity rank (its copula coordinate is the
            // rank's normal score), so the feature tells how popular a track is.
            z[features::POPULARITY] =
                features::normal_quantile(1.0 - (rank + 0.5) / n_tracks as f64);
            let w = (rank + 1.0).powf(-config.zipf);
            weights.push(w);
            let (key, major, time_signature) = space.discrete(&mut rng);
            let acoustic = space.acoustic(&z, &mut rng);
            tracks.push(Track {
                id: format!("t_{}", rng.uuid()),
                values: space.values(&z),
                key,
                major,
                time_signature,
                acoustic,
            });
            latents.push((c as u16, MOOD_FEATURES.map(|j| z[j] as f32)));
        }
        let logw: Vec<f64> = weights.iter().map(|w| w.ln()).collect();
        let mean = logw.iter().sum::<f64>() / n_tracks as f64;
        let sd = (logw.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n_tracks as f64)
            .sqrt()
            .max(1e-12);
        let mut members = vec![Vec::new(); k];
        let model_tracks: Vec<TrackLatent> = latents
            .iter()
            .zip(&logw)
            .enumerate()
            .map(|(i, (&(c, mood), lw))| {
                members[c as usize].push(i as u32);
                TrackLatent {
                    mood,
                    cluster: c,
                    popularity: ((lw - mean) / sd) as f32,
                }
            })
            .collect();
        let member_cdf = members
            .iter()
            .map(|m| cumulative(&m.iter().map(|&t| weights[t as usize]).collect::<Vec<_>>()))
            .collect();
        let centres = centres_full
            .iter()
            .map(|c| MOOD_FEATURES.map(|j| c[j]))
            .collect();
        let mut world = World {
            model: UserModel {
                config: config.user.clone(),
                thresholds: [0.0; 3],
                tracks: model_tracks,
                clusters: k,
                position_shift: Vec::new(),
            },
            config,
            seed,
            tracks,
            centres,
            cluster_weights,
            global_cdf: cumulative(&weights),
            members,
            member_cdf,
        };
        world.calibrate(seed);
        Ok(world)
    }

    /// Calibrates the thresholds (and the shifts by position, when asked) on a pilot of logged
    /// sessions: the engagements do not depend on the thresholds (the logging policy ignores
    /// responses), so one pilot suffices.
    fn calibrate(&mut self, seed: u64) {
        let mut pilot = Rng::stream(seed, &[stream::PILOT]);
        let mut plays = Vec::new();
        for _ in 0..self.config.pilot_sessions {
            let s = self.draw_session(&mut pilot);
            plays.extend(s.plays.iter().enumerate().map(|(i, p)| (p.z, i)));
        }
        let user = &self.config.user;
        if user.skip_2_by_position.is_empty() {
            let zs: Vec<f64> = plays.iter().map(|p| p.0).collect();
            self.model.thresholds = calibrate(&zs, &user.targets);
        } else {
            let (thresholds, shift) =
                calibrate_positions(&plays, &user.targets, &user.skip_2_by_position);
            self.model.thresholds = thresholds;
            self.model.position_shift = shift;
        }
    }

    /// A new user: a favourite cluster (by popularity), a taste near its centre, a skip
    /// propensity and a starting mood.
    pub fn draw_user(&self, rng: &mut Rng) -> User {
        let c = &self.config.user;
        let fav = rng.pick(&self.cluster_weights);
        let taste: Mood = std::array::from_fn(|d| self.centres[fav][d] + c.taste_sd * rng.normal());
        let propensity = c.propensity_sd * rng.normal();
        let mood0: Mood = std::array::from_fn(|d| taste[d] + c.mood_start_sd * rng.normal());
        let mut user = User {
            taste,
            propensity,
            mood0,
            discovery: NO_DISCOVERY,
        };
        // Drawn only in worlds with discovery, so that the others keep their users.
        if c.discovery != 0.0 || c.discovery_cost != 0.0 {
            user.discovery = rng.pick(&self.taste_weights(&user)) as u16;
        }
        user
    }

    /// Cluster weights for a user's taste: popularity × closeness of the centre to the taste.
    pub fn taste_weights(&self, user: &User) -> Vec<f64> {
        self.centres
            .iter()
            .zip(&self.cluster_weights)
            .map(|(c, w)| {
                let d2: f64 = c
                    .iter()
                    .zip(&user.taste)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum();
                w * (-d2 / 2.0).exp()
            })
            .collect()
    }

    fn pick_in_cluster(&self, c: usize, rng: &mut Rng) -> Option<u32> {
        let m = &self.members[c];
        (!m.is_empty()).then(|| m[rng.pick_cdf(&self.member_cdf[c])])
    }

    /// The logging policy's next track (it ignores the responses).
    pub fn logged_choice(
        &self,
        user_taste: &[f64],
        context: usize,
        state: &UserState,
        rng: &mut Rng,
    ) -> u32 {
        let [p_cont, p_taste] = self.config.logging.continue_taste[context];
        let mut choice = 0;
        for _ in 0..=self.config.logging.repeat_retries {
            let u = rng.f64();
            let prev = state
                .played
                .last()
                .map(|&t| self.model.tracks[t as usize].cluster as usize);
            choice = match prev {
                Some(c) if u < p_cont => self.pick_in_cluster(c, rng),
                _ if u < p_cont + p_taste => {
                    let c = rng.pick(user_taste);
                    self.pick_in_cluster(c, rng)
                }
                _ => None,
            }
            .unwrap_or_else(|| rng.pick_cdf(&self.global_cdf) as u32);
            if !state.played.contains(&choice) {
                break;
            }
        }
        choice
    }

    /// Draws a whole logged session: user, context, length, tracks and responses.
    pub fn draw_session(&self, rng: &mut Rng) -> SessionDraw {
        let user = self.draw_user(rng);
        let context = rng.pick(&CONTEXTS.map(|c| c.1));
        let len = 10 + rng.pick(&LENGTH_SHARES);
        let taste = self.taste_weights(&user);
        let mut state = self.model.start(&user);
        let mut plays = Vec::with_capacity(len);
        for _ in 0..len {
            let t = self.logged_choice(&taste, context, &state, rng);
            let z = self.model.engagement(&user, &state, t);
            let level = self.model.level_from_uniform(z, rng.f64());
            plays.push(Play { track: t, level, z });
            self.model.advance(&mut state, t);
        }
        SessionDraw {
            user,
            context,
            plays,
        }
    }

    /// The tracks a planner considers for `user`: all of them in a small catalogue, else the
    /// `n` best by lasting taste and popularity plus the `n` nearest to the current mood.
    pub fn pool(&self, user: &User, state: &UserState, n: usize) -> Vec<u32> {
        let all = self.tracks.len();
        if all <= 2 * n {
            return (0..all as u32).collect();
        }
        let c = &self.config.user;
        let score_by = |target: &Mood, pop: f64| {
            let mut v: Vec<(f64, u32)> = self
                .model
                .tracks
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let d2: f64 = t
                        .mood
                        .iter()
                        .zip(target)
                        .map(|(a, b)| (*a as f64 - b).powi(2))
                        .sum();
                    (pop * t.popularity as f64 - d2 / MOOD_DIMS as f64, i as u32)
                })
                .collect();
            v.select_nth_unstable_by(n - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            v.truncate(n);
            v.into_iter().map(|x| x.1)
        };
        let mut pool: Vec<u32> = score_by(&user.taste, c.popularity / c.taste.max(1e-9))
            .chain(score_by(&state.mood, 0.0))
            .collect();
        pool.sort_unstable();
        pool.dedup();
        pool
    }

    /// Index of each track id, for the saved model.
    pub fn track_keys(&self) -> Vec<u128> {
        self.tracks
            .iter()
            .map(|t| id_key(t.id.as_bytes()))
            .collect()
    }
}

/// Running sums of `w`.
pub fn cumulative(w: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    w.iter()
        .map(|x| {
            acc += x;
            acc
        })
        .collect()
}

/// The track-feature header of the official `tf_*.csv` files.
pub fn tf_header() -> String {
    let mut cols: Vec<String> = vec!["track_id".into()];
    for name in features::TF_ORDER {
        cols.push(name.to_string());
    }
    for i in 0..8 {
        cols.push(format!("acoustic_vector_{i}"));
    }
    cols.join(",")
}
