//! Track-feature files (`tf_*.csv`): keeps the rows of the tracks a sample uses, in the schema
//! they came in, so that the sample travels with exactly the features it needs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use super::csv::{Record, for_each_record, push_field};
use super::error::{DataError, Result};
use super::sample::CsvOut;

/// The column that joins a track-feature row to `track_id_clean` in the logs.
pub const TRACK_ID: &str = "track_id";

/// What filtering the track-feature files found.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TrackFeatureSummary {
    pub files: usize,
    /// Feature rows read.
    pub rows: u64,
    /// Rows written: one per sampled track that has features.
    pub kept: u64,
    /// Sampled tracks with no feature row in any file.
    pub missing: u64,
    /// Rows of a track already written (later copies are left out).
    pub duplicates: u64,
    /// Rows skipped by `--skip-bad-rows` (wrong number of fields).
    pub bad_rows: u64,
}

/// The column names of a track-feature header and the position of `track_id`.
pub fn read_header(path: &Path, rec: &Record) -> Result<(Vec<String>, usize)> {
    let names: Vec<String> = rec
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_owned()
        })
        .collect();
    match names.iter().position(|n| n == TRACK_ID) {
        Some(id) => Ok((names, id)),
        None => Err(DataError::MissingColumns {
            path: path.to_path_buf(),
            columns: vec![TRACK_ID],
            header: names.join(","),
        }),
    }
}

/// Writes to `out` the feature rows of the tracks in `wanted`, reading every file of `files`.
/// Every file must have the first file's columns, in any order; rows are written in the first
/// file's column order.
pub fn write_sampled_features(
    files: &[PathBuf],
    wanted: &HashSet<&str>,
    out: &Path,
    level: u32,
    skip_bad_rows: bool,
    progress: Option<ProgressBar>,
) -> Result<TrackFeatureSummary> {
    let mut w = CsvOut::create(out, level)?;
    let mut summary = TrackFeatureSummary {
        files: files.len(),
        ..Default::default()
    };
    let mut header: Option<Vec<String>> = None;
    let mut written: HashSet<String> = HashSet::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    let io = |e| DataError::io(out, e);
    for path in files {
        // Position in this file of each column of the output header.
        let mut order: Vec<usize> = Vec::new();
        let mut id_col = 0;
        let mut width = 0;
        for_each_record(path, progress.clone(), |line, rec| {
            if order.is_empty() {
                let (names, id) = read_header(path, rec)?;
                let canonical = header.get_or_insert_with(|| names.clone());
                let mut a = canonical.clone();
                let mut b = names.clone();
                a.sort();
                b.sort();
                if a != b {
                    return Err(DataError::NotCsv {
                        path: path.clone(),
                        why: format!(
                            "its columns differ from those of {}; all track-feature files must share one schema",
                            files[0].display()
                        ),
                    });
                }
                order = canonical
                    .iter()
                    .map(|c| names.iter().position(|n| n == c).unwrap_or(0))
                    .collect();
                if buf.is_empty() && written.is_empty() && summary.rows == 0 {
                    buf.extend_from_slice(canonical.join(",").as_bytes());
                    buf.push(b'\n');
                }
                id_col = id;
                width = names.len();
                return Ok(());
            }
            summary.rows += 1;
            if rec.len() != width {
                if skip_bad_rows {
                    summary.bad_rows += 1;
                    return Ok(());
                }
                return Err(DataError::BadRow {
                    path: path.clone(),
                    line,
                    problem: format!(
                        "expected {width} fields as in the header, found {}",
                        rec.len()
                    ),
                });
            }
            let id = String::from_utf8_lossy(rec.get(id_col));
            if !wanted.contains(id.as_ref()) {
                return Ok(());
            }
            if written.contains(id.as_ref()) {
                summary.duplicates += 1;
                return Ok(());
            }
            written.insert(id.into_owned());
            for (k, &i) in order.iter().enumerate() {
                if k > 0 {
                    buf.push(b',');
                }
                push_field(&mut buf, rec.get(i));
            }
            buf.push(b'\n');
            w.write_block(&mut buf, false).map_err(io)?;
            Ok(())
        })?;
        if order.is_empty() {
            return Err(DataError::Empty { path: path.clone() });
        }
    }
    w.write_block(&mut buf, true).map_err(io)?;
    w.finish().map_err(io)?;
    summary.kept = written.len() as u64;
    summary.missing = wanted.len() as u64 - summary.kept;
    Ok(summary)
}
