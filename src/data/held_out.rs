//! Logs a run never saw as the held-out split of its sample (`segue eval --logs`, `segue skips
//! --logs`): every complete session of other log files (or of another sample folder) re-indexed
//! to the sample's track table and dictionaries. Tracks the sample has never seen are appended to
//! its table (the song space gives them its fallback vector) and counted; sessions the sample
//! already holds are left out and counted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};
use super::ingest::ScanOptions;
use super::run::{discover_logs, scan_all};
use super::sample::{Sample, Session, Split};

/// What other logs bring to an evaluation: reported beside its scores.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LogsCoverage {
    /// The log files read.
    pub files: Vec<PathBuf>,
    /// Complete sessions kept as the held-out split.
    pub sessions: u64,
    /// Complete sessions left out because the sample, or an earlier file of the logs, holds a
    /// session of the same id.
    pub already_in_sample: u64,
    /// Sessions left out as incomplete, by reason (as `segue sample` counts them).
    pub incomplete_sessions: BTreeMap<String, u64>,
    /// Plays of the kept sessions, and those of tracks the sample has never seen.
    pub plays: u64,
    pub unknown_plays: u64,
    /// Distinct tracks of the kept sessions, and those the sample has never seen.
    pub tracks: u64,
    pub unknown_tracks: u64,
}

impl LogsCoverage {
    /// The files, as an error or a report names them.
    pub fn label(&self) -> String {
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        names.join(", ")
    }

    /// One line for the reports.
    pub fn summary(&self) -> String {
        let share = |a: u64, b: u64| 100.0 * a as f64 / b.max(1) as f64;
        format!(
            "Held-out split: {} sessions of {} never in the sample ({} already in it, {} incomplete, left out); \
             {} of {} tracks ({:.1}%) and {} of {} plays ({:.1}%) are of tracks the sample never had, \
             placed at the song space's fallback vector",
            self.sessions,
            self.label(),
            self.already_in_sample,
            self.incomplete_sessions.values().sum::<u64>(),
            self.unknown_tracks,
            self.tracks,
            share(self.unknown_tracks, self.tracks),
            self.unknown_plays,
            self.plays,
            share(self.unknown_plays, self.plays),
        )
    }
}

/// `base` with its held-out split replaced by every complete session of `logs` (log files,
/// folders of them, or sample folders) that `base` does not hold. The training and validation
/// sessions are `base`'s own; tracks new to `base` follow its track table, in order of first
/// play. A file without a complete session, or logs whose sessions are all in `base`, are
/// refused, naming the file.
pub fn with_logs_held_out(
    base: &Sample,
    logs: &[PathBuf],
    skip_bad_rows: bool,
) -> Result<(Sample, LogsCoverage)> {
    let files = discover_logs(logs)?;
    // Every complete session: a share no file reaches.
    let mut scans = scan_all(
        &files,
        |_| ScanOptions {
            skip_bad_rows,
            seed: 0,
            share: Some(u64::MAX),
        },
        0,
        None,
    )?;
    let mut coverage = LogsCoverage {
        files: files.clone(),
        ..Default::default()
    };
    for scan in &scans {
        for (why, n) in &scan.counts.incomplete_sessions {
            *coverage.incomplete_sessions.entry(why.clone()).or_default() += n;
        }
        if scan.sampled.is_empty() {
            return Err(DataError::Unusable {
                path: scan.path.clone(),
                problem: format!(
                    "no complete session to evaluate on ({} records, {} sessions incomplete)",
                    scan.counts.records,
                    scan.counts.incomplete_sessions.values().sum::<u64>()
                ),
            });
        }
    }
    let other = Sample::from_scans(&mut scans)?;
    let mut out = base.clone();
    out.sessions.retain(|s| s.split != Split::Test);
    let mut known: HashSet<&str> = base.sessions.iter().map(|s| s.id.as_str()).collect();
    let track_index: HashMap<&str, u32> = (base.tracks.iter())
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    let mut new_tracks: HashMap<u32, u32> = HashMap::new();
    let mut seen = HashSet::new();
    let dicts = [
        intern(&mut out.context_types, &other.context_types)?,
        intern(&mut out.reasons_start, &other.reasons_start)?,
        intern(&mut out.reasons_end, &other.reasons_end)?,
    ];
    for s in &other.sessions {
        // A session is kept once, whichever file holds it first.
        if !known.insert(s.id.as_str()) {
            coverage.already_in_sample += 1;
            continue;
        }
        let start = u32::try_from(out.rows.len())
            .map_err(|_| DataError::Config("a sample is limited to 2^32 records".into()))?;
        for r in other.rows_of(s) {
            let mut r = *r;
            let id = other.tracks[r.track as usize].as_str();
            r.track = match track_index.get(id) {
                Some(&t) => t,
                None => {
                    coverage.unknown_plays += 1;
                    *new_tracks.entry(r.track).or_insert_with(|| {
                        out.tracks.push(id.to_owned());
                        out.tracks.len() as u32 - 1
                    })
                }
            };
            seen.insert(r.track);
            r.context_type = dicts[0][r.context_type as usize];
            r.reason_start = dicts[1][r.reason_start as usize];
            r.reason_end = dicts[2][r.reason_end as usize];
            out.rows.push(r);
            coverage.plays += 1;
        }
        // `file` stays the index of the session's file among the coverage's files.
        out.sessions.push(Session {
            split: Split::Test,
            start,
            ..s.clone()
        });
        coverage.sessions += 1;
    }
    if coverage.sessions == 0 {
        return Err(DataError::Unusable {
            path: files[0].clone(),
            problem: format!(
                "all {} complete sessions of {} are already in the sample: nothing new to evaluate on",
                coverage.already_in_sample,
                coverage.label()
            ),
        });
    }
    coverage.tracks = seen.len() as u64;
    coverage.unknown_tracks = new_tracks.len() as u64;
    Ok((out, coverage))
}

/// Interns `names` into `table`, returning each name's index there.
fn intern(table: &mut Vec<String>, names: &[String]) -> Result<Vec<u16>> {
    names
        .iter()
        .map(|n| {
            let i = match table.iter().position(|t| t == n) {
                Some(i) => i,
                None => {
                    table.push(n.clone());
                    table.len() - 1
                }
            };
            u16::try_from(i).map_err(|_| {
                DataError::Config("more than 65,536 distinct context types or reasons".into())
            })
        })
        .collect()
}
