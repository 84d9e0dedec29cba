//! `segue export`: the logged transitions of a sample as offline-RL data, in the spaces the
//! agents and the Python environments use: each play after a session's first is a transition
//! from the encoded history before it, with the track played as a point of the agents' action
//! space (and its id), the reward of its response, and the session's last play marked as a
//! timeout (a session's end is a truncation, never a terminal state). Consecutive transitions
//! of a session chain: the next one starts from the history after this one's play.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::Split;
use crate::npz::{self, Array};
use crate::output::io_at;
use crate::simulator::SimulatorConfig;
use crate::simulator::error::load_inputs;
use crate::simulator::memory::{histories, transitions};

use super::error::AgentError;
use super::policy::ActionSpace;

/// What `segue export` wrote.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ExportReport {
    pub transitions: usize,
    /// Sessions (episodes) of at least two plays.
    pub episodes: usize,
    pub observation_dim: usize,
    pub action_dim: usize,
    pub splits: Vec<String>,
}

/// Writes the transitions of `splits` of the sample in `sample_dir`, encoded by the encoder run
/// in `encoder_dir` and rewarded by `cfg.reward`, to the `.npz` archive `out`: `observations`
/// `[n, latent]`, `actions` `[n, song dim]` in [−1, 1], `tracks`, `levels`, `rewards`,
/// `terminals` (all false), `timeouts` (each session's last transition) and `split` (0 train,
/// 1 validation, 2 test).
pub fn run_export(
    sample_dir: &Path,
    encoder_dir: &Path,
    cfg: &SimulatorConfig,
    splits: &[Split],
    out: &Path,
) -> Result<ExportReport, AgentError> {
    let (encoder, sample) = load_inputs(sample_dir, encoder_dir, cfg)?;
    let space = ActionSpace::new(&encoder.songs, &crate::songs::index::IndexKind::Exact);
    let reward = cfg.reward.reward();
    let (mut obs, mut actions, mut tracks, mut levels) = (vec![], vec![], vec![], vec![]);
    let (mut rewards, mut timeouts, mut split_ids) = (vec![], vec![], vec![]);
    let mut episodes = 0;
    for &split in splits {
        let trans = transitions(&sample, split, encoder.model.steps);
        let hist: Vec<&[(u32, u8)]> = histories(&trans);
        obs.extend(encoder.encode(&hist));
        for t in &trans {
            actions.extend_from_slice(space.track(t.track));
            tracks.push(t.track as i64);
            levels.push(t.level as i64);
            rewards.push(reward.of(t.level) as f32);
            split_ids.push(split as i64);
        }
        // `transitions` runs over the split's sessions in order, a session's plays after its
        // first: the last of each is a timeout.
        for s in sample.sessions_in(split).filter(|s| s.len > 1) {
            timeouts.extend((1..s.len).map(|t| t + 1 == s.len));
            episodes += 1;
        }
    }
    let n = tracks.len();
    assert_eq!(timeouts.len(), n, "one timeout flag per transition");
    let (latent, dim) = (encoder.model.latent, space.dim);
    let terminals = vec![false; n];
    npz::write(
        out,
        &[
            ("observations", Array::F32(&obs, vec![n, latent])),
            ("actions", Array::F32(&actions, vec![n, dim])),
            ("tracks", Array::I64(&tracks, vec![n])),
            ("levels", Array::I64(&levels, vec![n])),
            ("rewards", Array::F32(&rewards, vec![n])),
            ("terminals", Array::Bool(&terminals, vec![n])),
            ("timeouts", Array::Bool(&timeouts, vec![n])),
            ("split", Array::I64(&split_ids, vec![n])),
        ],
    )
    .map_err(io_at(out))?;
    Ok(ExportReport {
        transitions: n,
        episodes,
        observation_dim: latent,
        action_dim: dim,
        splits: splits.iter().map(|s| s.name().to_string()).collect(),
    })
}
