//! The data stage's commands: `segue sample` (map every file, merge, split, write) and
//! `segue stats`. The per-file work is [`super::ingest::scan_file`]; this module finds the
//! inputs, runs the files in parallel across cores, and merges their results in file order, so
//! the outcome does not depend on which worker read which file.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::cache;
use super::csv::Source;
use super::error::{DataError, Result};
use super::ids::IdSet;
use super::ingest::{Counts, FileScan, ScanOptions, scan_file, scan_source};
use super::partial::{self, PlanPosition};
use super::sample::{Sample, Split, SplitConfig, SplitRule};
use super::stats::LogStats;
use super::tracks::{TrackFeatureSummary, write_sampled_features};
use crate::output::StagedDir;

/// File names inside a sample folder.
pub mod files {
    pub const LOG: &str = "log_sample.csv.gz";
    pub const TRACK_FEATURES: &str = "tf_sample.csv.gz";
    pub const CACHE: &str = "sample.bin";
    pub const SPLITS: &str = "splits.csv";
    pub const STATS: &str = "stats.json";
    pub const MANIFEST: &str = "sample.json";
}

/// Configuration of `segue sample` (the `[sample]` table of a run config).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SampleConfig {
    /// Session-log files (`.csv`, `.csv.gz`) or folders searched recursively for them (files
    /// named `tf_*` are left out of folders).
    pub logs: Vec<PathBuf>,
    /// Track-feature files or folders (in folders, `tf_*.csv[.gz]`); the features of the
    /// sampled tracks are written along.
    pub tracks: Vec<PathBuf>,
    /// Target number of records, shared evenly between the log files.
    pub records: u64,
    /// Master seed: the same seed and inputs give the same sample and split.
    pub seed: u64,
    /// Train / validation / test fractions, by session.
    pub split: SplitConfig,
    /// Skip and count unparsable rows instead of failing.
    pub skip_bad_rows: bool,
    /// Files read at once; 0 means one per core.
    pub threads: usize,
    /// gzip level (0-9) of the written CSV files.
    pub gzip_level: u32,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            logs: Vec::new(),
            tracks: Vec::new(),
            records: 2_000_000,
            seed: 0,
            split: SplitConfig::default(),
            skip_bad_rows: false,
            threads: 0,
            gzip_level: 6,
        }
    }
}

impl SampleConfig {
    pub fn validate(&self) -> Result<()> {
        if self.logs.is_empty() {
            return Err(DataError::Config(
                "no log files or folders given (--logs)".into(),
            ));
        }
        check_records(self.records)?;
        if self.gzip_level > 9 {
            return Err(DataError::Config(format!(
                "gzip level {} is not in 0-9",
                self.gzip_level
            )));
        }
        self.split.validate()
    }
}

/// Which kind of file a folder is searched for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Logs,
    TrackFeatures,
}

fn is_csv_name(name: &str) -> bool {
    name.ends_with(".csv") || name.ends_with(".csv.gz")
}

/// Expands files and folders into a sorted, de-duplicated list of input files. A file named
/// explicitly is taken whatever its name; in folders, `.csv` and `.csv.gz` files are taken:
/// `tf_*` ones for track features, the others for logs (MSSD's naming). Sample folders found
/// inside folders are skipped with a warning; a sample folder named explicitly gives its
/// sampled log (or track features).
pub fn discover(paths: &[PathBuf], kind: InputKind) -> Result<Vec<PathBuf>> {
    fn walk(dir: &Path, kind: InputKind, out: &mut Vec<PathBuf>) -> Result<()> {
        let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
        for e in entries {
            let p = e.map_err(|e| DataError::io(dir, e))?.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() && is_sample_dir(&p) {
                // segue's own output: its files are a sample of logs already read, and its
                // splits.csv is not a log at all.
                tracing::warn!(
                    "skipping {}: a sample folder written by segue (name it to read its sample)",
                    p.display()
                );
            } else if p.is_dir() {
                walk(&p, kind, out)?;
            } else if is_csv_name(&name)
                && ((kind == InputKind::TrackFeatures) == name.starts_with("tf_"))
            {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| DataError::io(p, e))?;
        if meta.is_dir() && is_sample_dir(p) {
            // A sample folder named as input: its sampled rows (or their track features).
            let file = p.join(match kind {
                InputKind::Logs => files::LOG,
                InputKind::TrackFeatures => files::TRACK_FEATURES,
            });
            if file.is_file() {
                out.push(file);
            }
        } else if meta.is_dir() {
            walk(p, kind, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    let mut seen = HashSet::new();
    let mut unique = Vec::new();
    for p in out {
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if seen.insert(key) {
            unique.push(p);
        }
    }
    unique.sort();
    Ok(unique)
}

/// The log files under `paths` ([`discover`]); an error when there are none.
pub fn discover_logs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let logs = discover(paths, InputKind::Logs)?;
    if logs.is_empty() {
        return Err(DataError::NoInput(format!(
            "no .csv or .csv.gz log files under {paths:?}"
        )));
    }
    Ok(logs)
}

/// A progress bar over bytes on stderr (drawn only on a terminal).
pub fn byte_bar(total: u64, what: &str, show: bool) -> Option<ProgressBar> {
    if !show {
        return None;
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg:<10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    Some(bar)
}

/// A progress bar over records on stderr (drawn only on a terminal).
pub fn record_bar(total: u64, what: &str, show: bool) -> Option<ProgressBar> {
    let bar = byte_bar(total, what, show)?;
    let style = ProgressStyle::with_template(
        "{msg:<10} [{bar:30}] {human_pos}/{human_len} records eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    Some(bar)
}

/// Scans every file, `threads` at a time; results come back in file order. On an error the
/// remaining files are not started and the first failing file's error (in file order) is
/// returned.
pub fn scan_all(
    files: &[PathBuf],
    options: impl Fn(usize) -> ScanOptions + Sync,
    threads: usize,
    progress: Option<ProgressBar>,
) -> Result<Vec<FileScan>> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .min(files.len())
    .max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<FileScan>>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= files.len() || failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let r = scan_file(&files[i], &options(i), progress.clone());
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut v) = results.lock() {
                        v[i] = Some(r);
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    let mut out = Vec::with_capacity(files.len());
    for r in results {
        match r {
            Some(Ok(s)) => out.push(s),
            Some(Err(e)) => return Err(e),
            // Not started because an earlier-claimed file failed; its error comes first.
            None => continue,
        }
    }
    if out.len() != files.len() {
        return Err(DataError::Config(
            "a worker stopped without a result".into(),
        ));
    }
    Ok(out)
}

/// Merges the statistics of scanned files into the "all input" statistics.
pub fn merge_stats(scans: &[FileScan]) -> LogStats {
    let mut counts = Counts::default();
    let mut tracks = IdSet::default();
    let mut sessions = IdSet::default();
    let (mut disk, mut text) = (0, 0);
    for s in scans {
        counts.merge(&s.counts);
        tracks.extend(s.tracks.iter().copied());
        sessions.extend(s.sessions.iter().copied());
        disk += s.bytes_on_disk;
        text += s.read.bytes_uncompressed;
    }
    LogStats::from_counts(
        &counts,
        scans.len(),
        disk,
        text,
        sessions.len() as u64,
        tracks.len() as u64,
    )
}

/// One file's part in the sample.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileShare {
    pub path: PathBuf,
    /// Target records of the file.
    pub share: u64,
    pub sampled_records: u64,
    pub sampled_sessions: u64,
    /// Records of the file's complete sessions (what it could give).
    pub eligible_records: u64,
    /// How far the file fell short of its share (it had too few eligible records).
    pub shortfall: u64,
}

/// Sessions and records of one split.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SplitCount {
    pub sessions: u64,
    pub records: u64,
}

/// What `segue sample` wrote to `stats.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SampleReport {
    pub input: LogStats,
    pub sample: LogStats,
    pub files: Vec<FileShare>,
    pub split_rule: SplitRule,
    pub splits: BTreeMap<Split, SplitCount>,
    pub track_features: Option<TrackFeatureSummary>,
    /// Columns found in the input that are not in the official schema (ignored).
    pub extra_columns: Vec<String>,
}

/// The sample folder's manifest: what made it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub segue_version: String,
    pub config: SampleConfig,
    /// The input log files, in the order of `Session::file`.
    pub log_files: Vec<PathBuf>,
    pub track_feature_files: Vec<PathBuf>,
    pub split_rule: SplitRule,
}

/// Counts per split.
pub fn split_counts(sample: &Sample) -> BTreeMap<Split, SplitCount> {
    let mut m: BTreeMap<Split, SplitCount> = Split::ALL
        .iter()
        .map(|&s| (s, SplitCount::default()))
        .collect();
    for s in &sample.sessions {
        let c = m.entry(s.split).or_default();
        c.sessions += 1;
        c.records += s.len as u64;
    }
    m
}

/// A sample's target record count must be positive (in a config, a plan or a map task).
fn check_records(records: u64) -> Result<()> {
    if records == 0 {
        return Err(DataError::Config(
            "the target record count must be positive".into(),
        ));
    }
    Ok(())
}

/// The share of file `index` of `files` in a target of `records`: an even split, the first
/// `records % files` files taking one more.
pub fn file_share(records: u64, files: u64, index: u64) -> u64 {
    records / files + u64::from(index < records % files)
}

/// One file of a sampling plan.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedFile {
    pub index: u64,
    pub path: PathBuf,
    pub share: u64,
}

/// What each map task of a distributed sample needs (`segue sample-plan`): the files in the
/// order of the merge, and each one's share.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Plan {
    pub records: u64,
    pub seed: u64,
    pub skip_bad_rows: bool,
    pub files: Vec<PlannedFile>,
}

/// The plan of sampling `files` (sorted and de-duplicated here, as [`discover`] does).
pub fn plan(mut files: Vec<PathBuf>, records: u64, seed: u64, skip_bad_rows: bool) -> Result<Plan> {
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err(DataError::NoInput("no log files to plan".into()));
    }
    check_records(records)?;
    let n = files.len() as u64;
    Ok(Plan {
        records,
        seed,
        skip_bad_rows,
        files: files
            .into_iter()
            .enumerate()
            .map(|(i, path)| PlannedFile {
                index: i as u64,
                path,
                share: file_share(records, n, i as u64),
            })
            .collect(),
    })
}

/// Runs `segue sample`: samples `cfg.logs` into the folder `out`, which appears complete or not
/// at all. The map (every file's scan, files in parallel across cores) and the merge
/// ([`merge_and_write`]) are the two halves that `segue sample-map` and `segue sample-merge`
/// run apart.
pub fn run_sample(
    cfg: &SampleConfig,
    out: &Path,
    force: bool,
    show_progress: bool,
) -> Result<SampleReport> {
    cfg.validate()?;
    let logs = discover_logs(&cfg.logs)?;
    let tf_files = discover_track_features(cfg)?;
    let staged = StagedDir::new(out, force).map_err(|e| DataError::io(out, e))?;

    let clock = std::time::Instant::now();
    // Map: each file's even share, as whole sessions.
    let n = logs.len() as u64;
    let total_bytes = logs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = byte_bar(total_bytes, "sampling", show_progress);
    let scans = scan_all(
        &logs,
        |i| ScanOptions {
            skip_bad_rows: cfg.skip_bad_rows,
            seed: cfg.seed,
            share: Some(file_share(cfg.records, n, i as u64)),
        },
        cfg.threads,
        bar.clone(),
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    tracing::debug!("scanned {} files in {:.2?}", logs.len(), clock.elapsed());
    merge_and_write(cfg, logs, tf_files, scans, staged, show_progress)
}

fn discover_track_features(cfg: &SampleConfig) -> Result<Vec<PathBuf>> {
    let tf_files = discover(&cfg.tracks, InputKind::TrackFeatures)?;
    if !cfg.tracks.is_empty() && tf_files.is_empty() {
        return Err(DataError::NoInput(format!(
            "no .csv or .csv.gz track-feature files under {:?}",
            cfg.tracks
        )));
    }
    Ok(tf_files)
}

/// Maps one file for a distributed sample (`segue sample-map`): the file at `index` of a plan
/// of `files` files, read from `source`; returns the partial's bytes.
pub fn map_file(
    source: Source,
    records: u64,
    files: u64,
    index: u64,
    seed: u64,
    skip_bad_rows: bool,
) -> Result<Vec<u8>> {
    if files == 0 || index >= files {
        return Err(DataError::Config(format!(
            "file index {index} is not in a plan of {files} files"
        )));
    }
    check_records(records)?;
    let options = ScanOptions {
        skip_bad_rows,
        seed,
        share: Some(file_share(records, files, index)),
    };
    let scan = scan_source(source, &options, None)?;
    partial::encode(
        &scan,
        &options,
        PlanPosition {
            records,
            files,
            index,
        },
    )
}

/// Expands partial files and folders (in folders, every `*.part` file) into a sorted list.
pub fn discover_partials(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| DataError::io(p, e))?;
        if !meta.is_dir() {
            out.push(p.clone());
            continue;
        }
        for e in std::fs::read_dir(p).map_err(|e| DataError::io(p, e))? {
            let f = e.map_err(|e| DataError::io(p, e))?.path();
            if f.is_file() && f.extension().is_some_and(|x| x == "part") {
                out.push(f);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Runs `segue sample-merge`: merges the partials of every file of a plan, written by
/// `segue sample-map`, into the sample folder `out`. The result is identical to `segue sample`
/// on the same files with the same configuration. `cfg.logs`, when empty, is set to the files
/// of the partials (it is only recorded in the manifest).
pub fn run_sample_merge(
    cfg: &SampleConfig,
    partial_paths: &[PathBuf],
    out: &Path,
    force: bool,
    show_progress: bool,
) -> Result<SampleReport> {
    let found = discover_partials(partial_paths)?;
    if found.is_empty() {
        return Err(DataError::NoInput(format!(
            "no partials (*.part) under {partial_paths:?}"
        )));
    }
    let clock = std::time::Instant::now();
    let mut parts = Vec::with_capacity(found.len());
    for p in &found {
        let part = partial::load(p)?;
        let mismatch = |what: &str, theirs: String, ours: String| {
            Err(DataError::Config(format!(
                "{}: made with {what} {theirs}, the merge has {ours}",
                p.display()
            )))
        };
        if part.segue_version != env!("CARGO_PKG_VERSION") {
            return mismatch(
                "segue",
                part.segue_version.clone(),
                env!("CARGO_PKG_VERSION").into(),
            );
        }
        if part.options.seed != cfg.seed {
            return mismatch("seed", part.options.seed.to_string(), cfg.seed.to_string());
        }
        if part.options.skip_bad_rows != cfg.skip_bad_rows {
            return mismatch(
                "skip_bad_rows",
                part.options.skip_bad_rows.to_string(),
                cfg.skip_bad_rows.to_string(),
            );
        }
        if part.plan.records != cfg.records {
            return mismatch(
                "a target of records",
                part.plan.records.to_string(),
                cfg.records.to_string(),
            );
        }
        parts.push((p.clone(), part));
    }
    parts.sort_by(|a, b| a.1.scan.path.cmp(&b.1.scan.path));
    for w in parts.windows(2) {
        if w[0].1.scan.path == w[1].1.scan.path {
            return Err(DataError::Config(format!(
                "{} and {} both hold {}: every file of the plan must be merged once",
                w[0].0.display(),
                w[1].0.display(),
                w[0].1.scan.path.display()
            )));
        }
    }
    let n = parts.len() as u64;
    for (i, (p, part)) in parts.iter().enumerate() {
        if part.plan.files != n || part.plan.index != i as u64 {
            return Err(DataError::Config(format!(
                "{}: file {} of a plan of {} ({}), but {n} partials were found in that order: every file of the plan must be merged once",
                p.display(),
                part.plan.index + 1,
                part.plan.files,
                part.scan.path.display()
            )));
        }
    }
    let scans: Vec<FileScan> = parts.into_iter().map(|(_, part)| part.scan).collect();
    let logs: Vec<PathBuf> = scans.iter().map(|s| s.path.clone()).collect();
    let mut cfg = cfg.clone();
    if cfg.logs.is_empty() {
        cfg.logs = logs.clone();
    }
    cfg.validate()?;
    let tf_files = discover_track_features(&cfg)?;
    let staged = StagedDir::new(out, force).map_err(|e| DataError::io(out, e))?;
    tracing::debug!("read {} partials in {:.2?}", scans.len(), clock.elapsed());
    merge_and_write(&cfg, logs, tf_files, scans, staged, show_progress)
}

/// The merge: statistics of all input, the sample from every file's share in file order, the
/// split, and the sample folder written through `staged`.
fn merge_and_write(
    cfg: &SampleConfig,
    logs: Vec<PathBuf>,
    tf_files: Vec<PathBuf>,
    mut scans: Vec<FileScan>,
    staged: StagedDir,
    show_progress: bool,
) -> Result<SampleReport> {
    let clock = std::time::Instant::now();
    let n = logs.len() as u64;
    let share = |i: usize| file_share(cfg.records, n, i as u64);
    // Merge.
    let extra_columns: Vec<String> = scans
        .iter()
        .flat_map(|s| s.extra_columns.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !extra_columns.is_empty() {
        tracing::warn!(
            "ignoring columns not in the MSSD schema: {}",
            extra_columns.join(", ")
        );
    }
    let input = merge_stats(&scans);
    let file_shares: Vec<FileShare> = scans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let sampled_records: u64 = s.sampled.iter().map(|x| x.rows.len() as u64).sum();
            let target = share(i);
            FileShare {
                path: s.path.clone(),
                share: target,
                sampled_records,
                sampled_sessions: s.sampled.len() as u64,
                eligible_records: s.counts.records - s.counts.incomplete_records,
                shortfall: target.saturating_sub(sampled_records),
            }
        })
        .collect();
    for f in file_shares.iter().filter(|f| f.shortfall > 0) {
        tracing::warn!(
            "{}: only {} eligible records for a share of {}",
            f.path.display(),
            f.eligible_records,
            f.share
        );
    }
    let mut sample = Sample::from_scans(&mut scans)?;
    drop(scans);
    let split_rule = sample.assign_splits(&cfg.split, cfg.seed)?;
    tracing::debug!("merged and split in {:.2?}", clock.elapsed());

    // Write: the CSV (formatting, then deflating on a thread of its own) alongside the rest.
    let log_path = staged.join(files::LOG);
    let (text, track_features) = std::thread::scope(|scope| -> Result<_> {
        let bar = record_bar(sample.rows.len() as u64, "writing", show_progress);
        let csv_bar = bar.clone();
        let csv = scope.spawn(|| sample.write_csv(&log_path, cfg.gzip_level, csv_bar));
        let track_features = write_track_features(cfg, &tf_files, &sample, &staged, show_progress);
        let cache = write_file(&staged.join(files::CACHE), &cache::encode(&sample));
        let splits = write_file(&staged.join(files::SPLITS), splits_csv(&sample).as_bytes());
        let text = csv
            .join()
            .map_err(|_| DataError::Config("the CSV writer panicked".into()))??;
        cache?;
        splits?;
        Ok((text, track_features?))
    })?;
    tracing::debug!("wrote the sample in {:.2?}", clock.elapsed());
    let mut sample_stats = sample.stats();
    sample_stats.bytes_uncompressed = text;
    sample_stats.bytes_on_disk = std::fs::metadata(&log_path)
        .map_err(|e| DataError::io(&log_path, e))?
        .len();
    sample_stats.files = 1;
    let report = SampleReport {
        input,
        sample: sample_stats,
        files: file_shares,
        split_rule,
        splits: split_counts(&sample),
        track_features,
        extra_columns,
    };
    write_json(&staged.join(files::STATS), &report)?;
    let manifest = Manifest {
        segue_version: env!("CARGO_PKG_VERSION").into(),
        config: cfg.clone(),
        log_files: logs,
        track_feature_files: tf_files,
        split_rule,
    };
    write_json(&staged.join(files::MANIFEST), &manifest)?;
    let target = staged.target().to_path_buf();
    staged.commit().map_err(|e| DataError::io(&target, e))?;
    Ok(report)
}

/// `session_id,split` for every session of the sample.
fn splits_csv(sample: &Sample) -> String {
    let mut out = String::from("session_id,split\n");
    for s in &sample.sessions {
        out.push_str(&s.id);
        out.push(',');
        out.push_str(s.split.name());
        out.push('\n');
    }
    out
}

/// Keeps the features of the sampled tracks, when track-feature files were given.
fn write_track_features(
    cfg: &SampleConfig,
    tf_files: &[PathBuf],
    sample: &Sample,
    staged: &StagedDir,
    show_progress: bool,
) -> Result<Option<TrackFeatureSummary>> {
    if tf_files.is_empty() {
        return Ok(None);
    }
    let wanted: HashSet<&str> = sample.tracks.iter().map(String::as_str).collect();
    let tf_bytes = tf_files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = byte_bar(tf_bytes, "features", show_progress);
    let summary = write_sampled_features(
        tf_files,
        &wanted,
        &staged.join(files::TRACK_FEATURES),
        cfg.gzip_level,
        cfg.skip_bad_rows,
        bar.clone(),
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if summary.missing > 0 {
        tracing::warn!("{} sampled tracks have no track features", summary.missing);
    }
    Ok(Some(summary))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| DataError::io(path, e))
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(v).map_err(|e| DataError::BadOutput {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

/// A loaded sample folder.
#[derive(Debug)]
pub struct SampleDir {
    pub sample: Sample,
    pub manifest: Manifest,
    pub report: SampleReport,
}

/// Loads a sample folder written by `segue sample`.
pub fn load_sample_dir(dir: &Path) -> Result<SampleDir> {
    let read_json = |name: &str| -> Result<String> {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(|e| DataError::io(&p, e))
    };
    let bad = |name: &str, e: serde_json::Error| DataError::BadCache {
        path: dir.join(name),
        problem: e.to_string(),
    };
    let manifest =
        serde_json::from_str(&read_json(files::MANIFEST)?).map_err(|e| bad(files::MANIFEST, e))?;
    let report =
        serde_json::from_str(&read_json(files::STATS)?).map_err(|e| bad(files::STATS, e))?;
    let sample = cache::load(&dir.join(files::CACHE))?;
    Ok(SampleDir {
        sample,
        manifest,
        report,
    })
}

/// Is `p` a sample folder?
pub fn is_sample_dir(p: &Path) -> bool {
    p.join(files::CACHE).is_file() && p.join(files::MANIFEST).is_file()
}

/// Runs `segue stats` over log files and folders.
pub fn run_stats(
    paths: &[PathBuf],
    skip_bad_rows: bool,
    threads: usize,
    show_progress: bool,
) -> Result<LogStats> {
    let logs = discover_logs(paths)?;
    let total = logs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = byte_bar(total, "reading", show_progress);
    let scans = scan_all(
        &logs,
        |_| ScanOptions {
            skip_bad_rows,
            seed: 0,
            share: None,
        },
        threads,
        bar.clone(),
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let extra: BTreeSet<&String> = scans.iter().flat_map(|s| s.extra_columns.iter()).collect();
    if !extra.is_empty() {
        let names: Vec<&str> = extra.into_iter().map(String::as_str).collect();
        tracing::warn!(
            "ignoring columns not in the MSSD schema: {}",
            names.join(", ")
        );
    }
    Ok(merge_stats(&scans))
}
