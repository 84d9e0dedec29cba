//! Serving a trained agent: the next tracks for a listening history, from the CLI
//! (`segue recommend`) or over HTTP (`segue serve`, [`http`]).
//!
//! A [`Recommender`] loads a run once: the agent's networks, the history encoder, the sample's
//! track ids and the index of the action space. A request's history (track ids with their
//! responses) is encoded, the actor proposes a point in song space, the nearest tracks to it
//! (at least the agent's Wolpertinger candidates) are scored by the critic (plus the run's
//! skip model, with `skip_model_weight`), and the best `k` are returned, best first: the
//! first is the track the trained policy plays.

pub mod conn;
pub mod http;
pub mod load;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::agent::Agent;
use crate::agent::AgentError;
use crate::agent::policy::{ActionSpace, Heard};
use crate::agent::train::{TrainConfig, load_agent};
use crate::encoder::Encoder;
use crate::simulator::SimError;
use crate::songs::index::IndexKind;

/// Response levels by name, in level order.
pub const LEVEL_NAMES: [&str; 4] = ["skip_1", "skip_2", "skip_3", "not_skipped"];

/// A play of the history: a track id and the user's response, by name (`skip_1`, `skip_2`,
/// `skip_3`, `not_skipped`) or level (0-3).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Play {
    pub track_id: String,
    pub response: serde_json::Value,
}

/// One recommended track.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Recommendation {
    pub track_id: String,
    /// The critic's value Q(state, track), the expected discounted number of tracks heard
    /// out, plus `skip_model_weight` times the run's skip model's P(not skipped) when the run
    /// re-ranks with one.
    pub score: f32,
    /// Squared distance from the actor's proto-action, in its [−1, 1] coordinates.
    pub distance: f32,
}

/// Why a request cannot be answered. Each maps to an HTTP status in [`http`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RequestError {
    #[error("the history is empty: give at least one play")]
    EmptyHistory,
    #[error(
        "history[{index}].response: {value} is not a response level (skip_1, skip_2, skip_3, not_skipped or 0-3)"
    )]
    BadResponse { index: usize, value: String },
    #[error("k must be between 1 and {max}, got {k}")]
    BadK { k: usize, max: usize },
    #[error("{} unknown track id(s): {}", .0.len(), .0.join(", "))]
    UnknownTracks(Vec<String>),
}

/// The level of a response given by name or number.
pub fn parse_level(v: &serde_json::Value) -> Option<u8> {
    match v {
        serde_json::Value::String(s) => LEVEL_NAMES.iter().position(|n| n == s).map(|l| l as u8),
        serde_json::Value::Number(n) => n.as_u64().filter(|&l| l < 4).map(|l| l as u8),
        _ => None,
    }
}

/// A trained agent ready to answer.
pub struct Recommender {
    pub run: PathBuf,
    pub config: TrainConfig,
    pub agent: Agent,
    pub encoder: Encoder,
    pub space: ActionSpace,
    pub track_ids: Vec<String>,
    by_id: HashMap<String, u32>,
    /// The largest `k` a request may ask for.
    pub max_k: usize,
}

/// The saved track index in a run folder ([`crate::songs::saved_index`]).
pub const INDEX_FILE: &str = "index.bin";

impl Recommender {
    /// Loads the run in `run` (a finished `segue train` folder); `index` overrides the agent's
    /// track index (HNSW answers large catalogues in microseconds).
    pub fn load(
        run: &Path,
        index: Option<IndexKind>,
        max_k: usize,
    ) -> Result<Recommender, AgentError> {
        let (agent, config) = load_agent(run)?;
        let encoder = Encoder::load(&config.encoder)?;
        let sample = crate::data::load_sample_dir(&config.sample)
            .map_err(SimError::from)?
            .sample;
        if encoder.songs.values.len() != sample.tracks.len() * encoder.songs.dim {
            return Err(SimError::OtherSample {
                encoder: config.encoder.clone(),
                sample: config.sample.clone(),
            }
            .into());
        }
        let kind = index.unwrap_or_else(|| agent.cfg.index.clone());
        // The run keeps its HNSW graph (`index.bin`): built on the first load, read after.
        let space = ActionSpace::new_saved(&encoder.songs, &kind, &run.join(INDEX_FILE))
            .with_popularity(&sample);
        let by_id = sample
            .tracks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Ok(Recommender {
            run: run.to_path_buf(),
            config,
            agent,
            encoder,
            space,
            track_ids: sample.tracks,
            by_id,
            max_k,
        })
    }

    pub fn catalogue(&self) -> usize {
        self.track_ids.len()
    }

    /// Checks a request's plays and maps them to (track, level).
    pub fn parse_history(&self, plays: &[Play]) -> Result<Vec<(u32, u8)>, RequestError> {
        if plays.is_empty() {
            return Err(RequestError::EmptyHistory);
        }
        let mut out = Vec::with_capacity(plays.len());
        let mut unknown = Vec::new();
        for (i, p) in plays.iter().enumerate() {
            let level = parse_level(&p.response).ok_or_else(|| RequestError::BadResponse {
                index: i,
                value: p.response.to_string(),
            })?;
            match self.by_id.get(&p.track_id) {
                Some(&t) => out.push((t, level)),
                None => {
                    if !unknown.contains(&p.track_id) {
                        unknown.push(p.track_id.clone());
                    }
                }
            }
        }
        if !unknown.is_empty() {
            return Err(RequestError::UnknownTracks(unknown));
        }
        Ok(out)
    }

    /// The `k` best next tracks after `history` (oldest first), best first. Tracks of the
    /// history are left out unless `include_played`.
    pub fn recommend(
        &self,
        plays: &[Play],
        k: usize,
        include_played: bool,
    ) -> Result<Vec<Recommendation>, RequestError> {
        if k == 0 || k > self.max_k {
            return Err(RequestError::BadK { k, max: self.max_k });
        }
        let mut history = self.parse_history(plays)?;
        let mut excluded: Vec<u32> = if include_played {
            Vec::new()
        } else {
            history.iter().map(|h| h.0).collect()
        };
        excluded.sort_unstable();
        excluded.dedup();
        let keep = self.encoder.model.steps;
        let extra = history.len().saturating_sub(keep);
        history.drain(..extra);
        let state = self.encoder.encode(std::slice::from_ref(&history));
        let obs = self
            .agent
            .observations(&[&history], &self.space.tracks, || &state);
        let proto = self.agent.act(&obs);
        let n = k.max(self.agent.cfg.candidates);
        let popular = self.agent.cfg.popular_candidates;
        let anchored = self
            .space
            .anchored(&[&history], self.agent.cfg.anchor_candidates);
        let cands = self
            .space
            .candidates(&proto, n, popular, Some(&anchored), &[&excluded])
            .remove(0);
        let heard = Heard {
            histories: &[&history],
            states: &state,
        };
        let scores = self
            .space
            .scores(
                &self.agent,
                &obs,
                std::slice::from_ref(&cands),
                Some(&heard),
            )
            .remove(0);
        let mut recs: Vec<Recommendation> = cands
            .iter()
            .zip(&scores)
            .map(|(&t, &score)| Recommendation {
                track_id: self.track_ids[t as usize].clone(),
                score,
                distance: self
                    .space
                    .track(t)
                    .iter()
                    .zip(&proto)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum(),
            })
            .collect();
        recs.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.distance.total_cmp(&b.distance))
        });
        recs.truncate(k);
        Ok(recs)
    }
}

/// Reads a history file: JSON (a list of plays, or an object with a `history` list) or CSV rows
/// in the log schema (`track_id_clean` and the skip flags; the response is the first skip flag
/// set, else `not_skipped`).
pub fn read_history(text: &str, source: &str) -> Result<Vec<Play>, String> {
    let t = text.trim_start();
    if t.starts_with('[') || t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).map_err(|e| format!("{source}: {e}"))?;
        let list = match v {
            serde_json::Value::Object(mut o) => o
                .remove("history")
                .ok_or_else(|| format!("{source}: a JSON object needs a \"history\" list"))?,
            v => v,
        };
        return serde_json::from_value(list).map_err(|e| format!("{source}: {e}"));
    }
    let mut lines = t.lines().enumerate();
    let (_, header) = lines.next().ok_or_else(|| format!("{source}: empty"))?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or_else(|| format!("{source}: line 1: no {name} column"))
    };
    let track = col("track_id_clean")?;
    let flags = [col("skip_1")?, col("skip_2")?, col("skip_3")?];
    let mut out = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let get = |c: usize, name: &str| {
            f.get(c)
                .map(|s| s.trim())
                .ok_or_else(|| format!("{source}: line {}: no {name} field", i + 1))
        };
        let mut level = 3;
        for (l, &c) in flags.iter().enumerate() {
            let v = get(c, LEVEL_NAMES[l])?;
            let set = match v {
                "true" | "True" | "1" => true,
                "false" | "False" | "0" => false,
                _ => {
                    return Err(format!(
                        "{source}: line {}: {}: {v:?} is not a boolean",
                        i + 1,
                        LEVEL_NAMES[l]
                    ));
                }
            };
            if set {
                level = l;
                break;
            }
        }
        out.push(Play {
            track_id: get(track, "track_id_clean")?.to_string(),
            response: serde_json::Value::String(LEVEL_NAMES[level].into()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_by_name_or_number() {
        use serde_json::json;
        assert_eq!(parse_level(&json!("skip_2")), Some(1));
        assert_eq!(parse_level(&json!(3)), Some(3));
        assert_eq!(parse_level(&json!(4)), None);
        assert_eq!(parse_level(&json!("later")), None);
        assert_eq!(parse_level(&json!(true)), None);
    }

    #[test]
    fn history_from_json_or_log_csv() {
        let j = r#"[{"track_id": "a", "response": "skip_1"}, {"track_id": "b", "response": 3}]"#;
        let p = read_history(j, "h.json").unwrap();
        assert_eq!(p.len(), 2);
        let o = r#"{"history": [{"track_id": "a", "response": "not_skipped"}]}"#;
        assert_eq!(read_history(o, "h.json").unwrap()[0].track_id, "a");
        let csv = "session_id,track_id_clean,skip_1,skip_2,skip_3,not_skipped\ns,t1,False,True,True,False\ns,t2,False,False,False,True\n";
        let p = read_history(csv, "h.csv").unwrap();
        assert_eq!(p[0].response, serde_json::json!("skip_2"));
        assert_eq!(p[1].response, serde_json::json!("not_skipped"));
        let bad = "track_id_clean,skip_1,skip_2,skip_3\nt1,maybe,False,False\n";
        let e = read_history(bad, "h.csv").unwrap_err();
        assert!(e.contains("line 2") && e.contains("skip_1"), "{e}");
    }
}
