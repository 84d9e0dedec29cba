//! The saved hidden model of a synthetic world: `world.json` (configuration, calibrated
//! thresholds, the generation report) and `world.bin` (each track's latent and each session's
//! user, keyed by their ids), so that later stages can score any policy against the truth.
//!
//! `world.bin` layout, little-endian: `SEGUEWLD`, u32 version, u32 clusters, 3 × f64 thresholds,
//! u32 tracks then per track u128 id key, u16 cluster, 4 × f32 mood, f32 popularity; u32 users
//! then per user u128 session-id key, 4 × f64 taste, f64 propensity, 4 × f64 starting mood, u16
//! discovery cluster (version 2; version 1 has no discovery); and a u64 checksum of everything
//! before it.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::model::{MOOD_DIMS, NO_DISCOVERY, TrackLatent, User, UserModel};
use super::world::World;
use super::{Result, SynthConfig, SynthError, SynthReport, files};
use crate::data::cache::checksum;
use crate::data::error::DataError;
use crate::data::ids::id_key;

const MAGIC: &[u8; 8] = b"SEGUEWLD";
const VERSION: u32 = 2;

/// `world.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WorldManifest {
    pub segue_version: String,
    pub config: SynthConfig,
    pub thresholds: [f64; 3],
    /// The engagement shift per position (`UserModel::position_shift`; empty: none).
    #[serde(default)]
    pub position_shift: Vec<f64>,
    pub report: SynthReport,
}

/// A loaded world model.
#[derive(Clone, Debug)]
pub struct SavedWorld {
    pub manifest: WorldManifest,
    pub model: UserModel,
    track_index: HashMap<u128, u32>,
    users: HashMap<u128, User>,
}

impl SavedWorld {
    /// The model's index of a track id.
    pub fn track(&self, id: &str) -> Option<u32> {
        self.track_index.get(&id_key(id.as_bytes())).copied()
    }

    /// The hidden user of a logged session.
    pub fn user(&self, session_id: &str) -> Option<&User> {
        self.users.get(&id_key(session_id.as_bytes()))
    }

    pub fn users(&self) -> usize {
        self.users.len()
    }
}

/// Writes `world.json` and `world.bin` into `dir`.
pub fn save(
    world: &World,
    cfg: &SynthConfig,
    report: &SynthReport,
    users: &[(u128, User)],
    dir: &Path,
) -> Result<()> {
    let manifest = WorldManifest {
        segue_version: env!("CARGO_PKG_VERSION").into(),
        config: cfg.clone(),
        thresholds: world.model.thresholds,
        position_shift: world.model.position_shift.clone(),
        report: report.clone(),
    };
    let json_path = dir.join(files::MODEL_JSON);
    let mut json = serde_json::to_string_pretty(&manifest).map_err(|e| SynthError::BadWorld {
        path: json_path.clone(),
        problem: e.to_string(),
    })?;
    json.push('\n');
    std::fs::write(&json_path, json).map_err(|e| DataError::io(&json_path, e))?;

    let mut b = Vec::with_capacity(64 + world.tracks.len() * 38 + users.len() * 88);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(world.model.clusters as u32).to_le_bytes());
    for t in world.model.thresholds {
        b.extend_from_slice(&t.to_le_bytes());
    }
    b.extend_from_slice(&(world.tracks.len() as u32).to_le_bytes());
    for (key, t) in world.track_keys().iter().zip(&world.model.tracks) {
        b.extend_from_slice(&key.to_le_bytes());
        b.extend_from_slice(&t.cluster.to_le_bytes());
        for m in t.mood {
            b.extend_from_slice(&m.to_le_bytes());
        }
        b.extend_from_slice(&t.popularity.to_le_bytes());
    }
    b.extend_from_slice(&(users.len() as u32).to_le_bytes());
    for (key, u) in users {
        b.extend_from_slice(&key.to_le_bytes());
        for x in u.taste.iter().chain([&u.propensity]).chain(&u.mood0) {
            b.extend_from_slice(&x.to_le_bytes());
        }
        b.extend_from_slice(&u.discovery.to_le_bytes());
    }
    let sum = checksum(&b);
    b.extend_from_slice(&sum.to_le_bytes());
    let bin_path = dir.join(files::MODEL_BIN);
    std::fs::write(&bin_path, b).map_err(|e| DataError::io(&bin_path, e))?;
    Ok(())
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.b.get(self.pos..self.pos + N)?;
        self.pos += N;
        s.try_into().ok()
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }
    fn u128(&mut self) -> Option<u128> {
        self.take().map(u128::from_le_bytes)
    }
    fn f32(&mut self) -> Option<f32> {
        self.take().map(f32::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.take().map(f64::from_le_bytes)
    }
}

/// Loads the world model saved in `dir` by `segue synth`.
pub fn load(dir: &Path) -> Result<SavedWorld> {
    let json_path = dir.join(files::MODEL_JSON);
    let text = std::fs::read_to_string(&json_path).map_err(|e| DataError::io(&json_path, e))?;
    let manifest: WorldManifest =
        serde_json::from_str(&text).map_err(|e| SynthError::BadWorld {
            path: json_path.clone(),
            problem: e.to_string(),
        })?;
    let bin_path = dir.join(files::MODEL_BIN);
    let bytes = std::fs::read(&bin_path).map_err(|e| DataError::io(&bin_path, e))?;
    let bad = |problem: &str| SynthError::BadWorld {
        path: bin_path.clone(),
        problem: problem.into(),
    };
    if bytes.len() < 20 || &bytes[..8] != MAGIC {
        return Err(bad("not a segue world model (bad magic number)"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if checksum(body).to_le_bytes() != sum {
        return Err(bad("checksum mismatch: the file is truncated or corrupt"));
    }
    let mut r = Reader { b: body, pos: 8 };
    let parsed = (|| {
        let version = r.u32()?;
        if !(1..=VERSION).contains(&version) {
            return None;
        }
        let clusters = r.u32()? as usize;
        let thresholds = [r.f64()?, r.f64()?, r.f64()?];
        let n = r.u32()? as usize;
        let mut tracks = Vec::with_capacity(n.min(body.len() / 38));
        let mut track_index = HashMap::with_capacity(n.min(body.len() / 38));
        for i in 0..n {
            track_index.insert(r.u128()?, i as u32);
            let cluster = r.u16()?;
            let mood: [f32; MOOD_DIMS] = [r.f32()?, r.f32()?, r.f32()?, r.f32()?];
            let popularity = r.f32()?;
            if cluster as usize >= clusters {
                return None;
            }
            tracks.push(TrackLatent {
                mood,
                cluster,
                popularity,
            });
        }
        let m = r.u32()? as usize;
        let mut users = HashMap::with_capacity(m.min(body.len() / 88));
        for _ in 0..m {
            let key = r.u128()?;
            let taste = [r.f64()?, r.f64()?, r.f64()?, r.f64()?];
            let propensity = r.f64()?;
            let mood0 = [r.f64()?, r.f64()?, r.f64()?, r.f64()?];
            let discovery = match version {
                1 => NO_DISCOVERY,
                _ => r.u16()?,
            };
            users.insert(
                key,
                User {
                    taste,
                    propensity,
                    mood0,
                    discovery,
                },
            );
        }
        (r.pos == body.len()).then_some((clusters, thresholds, tracks, track_index, users))
    })();
    let Some((clusters, thresholds, tracks, track_index, users)) = parsed else {
        return Err(bad(
            "malformed content or unknown version; re-run `segue synth`",
        ));
    };
    Ok(SavedWorld {
        model: UserModel {
            config: manifest.config.world.user.clone(),
            thresholds,
            tracks,
            clusters,
            position_shift: manifest.position_shift.clone(),
        },
        manifest,
        track_index,
        users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_model_loads_without_discovery() {
        let mut cfg = SynthConfig {
            tracks: 40,
            ..Default::default()
        };
        cfg.world.pilot_sessions = 50;
        let world = World::build(cfg.world.clone(), cfg.tracks, 3).unwrap();
        let users: Vec<(u128, User)> = (0..3u64)
            .map(|i| (i as u128 + 1, world.draw_user(&mut crate::rng::Rng::new(i))))
            .collect();
        let report = SynthReport {
            log_files: Vec::new(),
            track_files: Vec::new(),
            sessions: 0,
            records: 0,
            bytes_text: 0,
            bytes_on_disk: 0,
            rates: [0.0; 4],
            thresholds: world.model.thresholds,
            reference: None,
        };
        let dir = tempfile::tempdir().unwrap();
        save(&world, &cfg, &report, &users, dir.path()).unwrap();
        let v2 = load(dir.path()).unwrap();
        // The same file as version 1 wrote it: no discovery cluster after each user.
        let bin = dir.path().join(files::MODEL_BIN);
        let b = std::fs::read(&bin).unwrap();
        let users_at = 8 + 4 + 4 + 24 + 4 + world.tracks.len() * 38 + 4;
        let mut old = b[..users_at].to_vec();
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        for u in b[users_at..b.len() - 8].chunks_exact(90) {
            old.extend_from_slice(&u[..88]);
        }
        let sum = checksum(&old);
        old.extend_from_slice(&sum.to_le_bytes());
        std::fs::write(&bin, old).unwrap();
        let v1 = load(dir.path()).unwrap();
        for (key, u) in &users {
            let (a, b) = (&v2.users[key], &v1.users[key]);
            assert_eq!(a, u);
            assert_eq!(b.discovery, NO_DISCOVERY);
            assert_eq!(
                (a.taste, a.propensity, a.mood0),
                (b.taste, b.propensity, b.mood0)
            );
        }
        assert_eq!(v1.model.thresholds, v2.model.thresholds);
    }
}
