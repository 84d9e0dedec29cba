//! `segue synth`: a synthetic MSSD world whose user model is known. It writes session logs and
//! track features in the official schemas, streamed file by file, and saves the hidden model
//! beside them so that every later stage can be checked against the truth: any policy's exact
//! expected score, and a planner's score as the ceiling.
//!
//! See [`model`] for the user model and [`world`] for the catalogue and the logging policy.

pub mod features;
pub mod model;
pub mod params;
pub mod reference;
pub mod saved;
pub mod world;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::data::csv::push_field;
use crate::data::error::DataError;
use crate::data::run::record_bar;
use crate::data::sample::{BLOCK, CsvOut};
use crate::data::schema::{format_date, parse_date};
use crate::output::StagedDir;
use crate::rng::Rng;
use crate::songs::features::TrackTable;
use model::User;
use reference::ReferenceTable;
use world::{CONTEXTS, World, WorldConfig};

/// Errors of `segue synth`.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid synth configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{path}: {problem}")]
    BadWorld { path: PathBuf, problem: String },
}

pub type Result<T, E = SynthError> = std::result::Result<T, E>;

/// Configuration of `segue synth` (the `[synth]` table of a run config).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SynthConfig {
    /// Sessions to generate, shared evenly between the log files.
    pub sessions: usize,
    /// Tracks in the catalogue.
    pub tracks: usize,
    /// Log files; file `f` holds the sessions of day `start_date + f`.
    pub files: usize,
    /// Master seed.
    pub seed: u64,
    /// Write `.csv.gz` instead of `.csv`.
    pub gzip: bool,
    /// Date of the first file (YYYY-MM-DD).
    pub start_date: String,
    /// Files generated at once; 0 means one per core.
    pub threads: usize,
    /// Users scored by the reference policies (random, popularity, logged, greedy, planner);
    /// 0 skips the reference table.
    pub reference_users: usize,
    pub world: WorldConfig,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            sessions: 10_000,
            tracks: 5_000,
            files: 4,
            seed: 0,
            gzip: false,
            start_date: "2018-07-15".into(),
            threads: 0,
            reference_users: 200,
            world: WorldConfig::default(),
        }
    }
}

impl SynthConfig {
    pub fn validate(&self) -> Result<i32> {
        if self.sessions == 0 || self.tracks == 0 || self.files == 0 {
            return Err(SynthError::Config(
                "sessions, tracks and files must be positive".into(),
            ));
        }
        if self.files > self.sessions {
            return Err(SynthError::Config(format!(
                "{} files for {} sessions: every file needs at least one session",
                self.files, self.sessions
            )));
        }
        if self.tracks < 20 {
            return Err(SynthError::Config(
                "a catalogue needs at least 20 tracks (sessions have up to 20 distinct plays)"
                    .into(),
            ));
        }
        self.world.user.validate().map_err(SynthError::Config)?;
        parse_date(self.start_date.as_bytes()).ok_or_else(|| {
            SynthError::Config(format!(
                "start_date {:?} is not YYYY-MM-DD",
                self.start_date
            ))
        })
    }
}

/// What `segue synth` wrote and measured.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SynthReport {
    pub log_files: Vec<String>,
    pub track_files: Vec<String>,
    pub sessions: u64,
    pub records: u64,
    /// Bytes of CSV text written (logs and track features), before compression.
    pub bytes_text: u64,
    pub bytes_on_disk: u64,
    /// Rates of the logged responses: skip_1, skip_2, skip_3, not_skipped.
    pub rates: [f64; 4],
    pub thresholds: [f64; 3],
    pub reference: Option<ReferenceTable>,
}

/// File names of a synthetic world.
pub mod files {
    pub const MODEL_JSON: &str = "world.json";
    pub const MODEL_BIN: &str = "world.bin";
}

const ROWS_PER_TF_FILE: usize = 2_000_000;
const STARTS: [&str; 9] = [
    "trackdone",
    "fwdbtn",
    "backbtn",
    "clickrow",
    "appload",
    "playbtn",
    "remote",
    "trackerror",
    "endplay",
];
const START_FIRST_P: [f64; 9] = [0.15, 0.2, 0.05, 0.35, 0.2, 0.03, 0.01, 0.005, 0.005];
const ENDS: [&str; 6] = [
    "trackdone",
    "fwdbtn",
    "backbtn",
    "endplay",
    "logout",
    "remote",
];
const END_PLAYED_P: [f64; 6] = [0.97, 0.0, 0.0, 0.02, 0.005, 0.005];
const END_SKIPPED_P: [f64; 6] = [0.0, 0.75, 0.12, 0.12, 0.005, 0.005];

fn hour_weights() -> [f64; 24] {
    // More listening in the evening: 1 + 0.7·cos(2π(h − 18)/24).
    std::array::from_fn(|h| 1.0 + 0.7 * (std::f64::consts::TAU * (h as f64 - 18.0) / 24.0).cos())
}

/// A file's sessions: rows written, response counts, and each session's hidden user.
struct FileOut {
    name: String,
    rows: u64,
    text: u64,
    levels: [u64; 4],
    users: Vec<(u128, User)>,
}

/// Writes one log file of `n` sessions.
fn write_log_file(
    world: &World,
    cfg: &SynthConfig,
    f: usize,
    n: usize,
    date: i32,
    dir: &Path,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<FileOut> {
    let ymd = format_date(date).replace('-', "");
    let name = format!(
        "log_{f}_{ymd}_000000000000.csv{}",
        if cfg.gzip { ".gz" } else { "" }
    );
    let path = dir.join(&name);
    let mut out = CsvOut::create(&path, 6)?;
    let io = |e| SynthError::Data(DataError::io(&path, e));
    let mut rng = Rng::stream(cfg.seed, &[world::stream::FILE, f as u64]);
    let date_text = format_date(date);
    let hours = hour_weights();
    let mut buf = Vec::with_capacity(BLOCK);
    buf.extend_from_slice(crate::data::schema::COLUMNS.join(",").as_bytes());
    buf.push(b'\n');
    let mut res = FileOut {
        name,
        rows: 0,
        text: 0,
        levels: [0; 4],
        users: Vec::with_capacity(n),
    };
    let tf = |v: bool| if v { "true" } else { "false" };
    for _ in 0..n {
        let s = world.draw_session(&mut rng);
        let id = format!("{f}_{}", rng.uuid());
        let len = s.plays.len();
        let hour = rng.pick(&hours);
        let premium = rng.bernoulli(0.81);
        let shuffle = rng.bernoulli(0.31);
        let context = CONTEXTS[s.context].0;
        let mut prev_end = 0usize;
        for (i, p) in s.plays.iter().enumerate() {
            let pos = i + 1;
            let skipped = p.level < 3;
            let end = rng.pick(if skipped {
                &END_SKIPPED_P
            } else {
                &END_PLAYED_P
            });
            let start = if pos == 1 {
                rng.pick(&START_FIRST_P)
            } else if rng.bernoulli(0.0005) {
                7
            } else if rng.bernoulli(0.08) {
                3
            } else {
                match prev_end {
                    0..=2 => prev_end,
                    _ => [3, 4, 5, 6][rng.pick(&[0.6, 0.25, 0.1, 0.05])],
                }
            };
            prev_end = end;
            // Pauses: none recorded at position 1 (as in the real logs); a short pause also sets
            // long_pause_before_play, as the real logs do.
            let pause = if pos == 1 {
                3
            } else {
                rng.pick(&[0.818, 0.155, 0.027])
            };
            let switch = pos > 1 && rng.bernoulli(0.043);
            let mut seek = || {
                if rng.bernoulli(0.03) {
                    1 + rng.geometric(0.6)
                } else {
                    0
                }
            };
            let (fwd, back) = (seek(), seek());
            res.levels[p.level as usize] += 1;
            push_field(&mut buf, id.as_bytes());
            use std::io::Write;
            let _ = write!(
                buf,
                ",{pos},{len},{},{},{},{},{},{},{},{},{},{fwd},{back},{},{hour},{date_text},{},",
                world.tracks[p.track as usize].id,
                tf(p.level == 0),
                tf(p.level <= 1),
                tf(p.level <= 2),
                tf(!skipped),
                switch as u8,
                (pause == 0) as u8,
                (pause == 1) as u8,
                (pause == 1 || pause == 2) as u8,
                tf(shuffle),
                tf(premium),
            );
            let _ = writeln!(buf, "{context},{},{}", STARTS[start], ENDS[end]);
        }
        res.rows += len as u64;
        res.users
            .push((crate::data::ids::id_key(id.as_bytes()), s.user));
        if let Some(b) = progress {
            b.inc(1);
        }
        res.text += out.write_block(&mut buf, false).map_err(io)?;
    }
    res.text += out.write_block(&mut buf, true).map_err(io)?;
    out.finish().map_err(io)?;
    Ok(res)
}

/// Writes the track-feature files; returns their names and bytes of text.
fn write_track_files(world: &World, gzip: bool, dir: &Path) -> Result<(Vec<String>, u64)> {
    let mut names = Vec::new();
    let mut text = 0u64;
    let header = world::tf_header();
    for (j, chunk) in world.tracks.chunks(ROWS_PER_TF_FILE).enumerate() {
        let name = format!("tf_{j:012}.csv{}", if gzip { ".gz" } else { "" });
        let path = dir.join(&name);
        let io = |e| SynthError::Data(DataError::io(&path, e));
        let mut out = CsvOut::create(&path, 6)?;
        let mut buf = Vec::with_capacity(BLOCK);
        buf.extend_from_slice(header.as_bytes());
        buf.push(b'\n');
        for t in chunk {
            features::write_tf_row(&mut buf, t);
            text += out.write_block(&mut buf, false).map_err(io)?;
        }
        text += out.write_block(&mut buf, true).map_err(io)?;
        out.finish().map_err(io)?;
        names.push(name);
    }
    Ok((names, text))
}

/// A finished `segue synth` run: the report saved with the world, and the wall time of building
/// the world and writing the data (the reference table excluded).
#[derive(Clone, Debug)]
pub struct SynthRun {
    pub report: SynthReport,
    pub seconds: f64,
}

/// Writes the `cfg.files` log files into `dir` on `cfg.threads` threads (0: every core), the
/// first day `start_day`; their outcomes in file order, or the first error.
fn write_logs(
    world: &World,
    cfg: &SynthConfig,
    start_day: i32,
    dir: &Path,
    show_progress: bool,
) -> Result<Vec<FileOut>> {
    let n = cfg.files;
    let per_file = |f: usize| cfg.sessions / n + usize::from(f < cfg.sessions % n);
    let threads = match cfg.threads {
        0 => std::thread::available_parallelism().map_or(1, |x| x.get()),
        t => t,
    }
    .min(n);
    let bar = record_bar(cfg.sessions as u64, "sessions", show_progress);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<FileOut>>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let f = next.fetch_add(1, Ordering::Relaxed);
                    if f >= n {
                        return;
                    }
                    let r = write_log_file(
                        world,
                        cfg,
                        f,
                        per_file(f),
                        start_day + f as i32,
                        dir,
                        bar.as_ref(),
                    );
                    let failed = r.is_err();
                    if let Ok(mut v) = results.lock() {
                        v[f] = Some(r);
                    }
                    if failed {
                        next.store(n, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let mut outs = Vec::with_capacity(n);
    for r in results.into_inner().unwrap_or_default() {
        match r {
            Some(Ok(o)) => outs.push(o),
            Some(Err(e)) => return Err(e),
            None => {}
        }
    }
    if outs.len() != n {
        return Err(SynthError::Config(
            "a log writer stopped without a result".into(),
        ));
    }
    Ok(outs)
}

/// Runs `segue synth`: builds the world and writes it to `out` (complete or not at all).
pub fn run_synth(
    cfg: &SynthConfig,
    out: &Path,
    force: bool,
    show_progress: bool,
) -> Result<SynthRun> {
    let start_day = cfg.validate()?;
    let clock = std::time::Instant::now();
    let world =
        World::build(cfg.world.clone(), cfg.tracks, cfg.seed).map_err(SynthError::Config)?;
    tracing::debug!(
        "built the catalogue and calibrated in {:.2?}",
        clock.elapsed()
    );
    let staged = StagedDir::new(out, force).map_err(|e| DataError::io(out, e))?;
    let (track_files, tf_text) = write_track_files(&world, cfg.gzip, staged.path())?;

    let mut outs = write_logs(&world, cfg, start_day, staged.path(), show_progress)?;
    tracing::debug!("wrote the logs in {:.2?}", clock.elapsed());

    let records: u64 = outs.iter().map(|o| o.rows).sum();
    let mut levels = [0u64; 4];
    for o in &outs {
        for (a, b) in levels.iter_mut().zip(o.levels) {
            *a += b;
        }
    }
    let r = |n: u64| n as f64 / records.max(1) as f64;
    let rates = [
        r(levels[0]),
        r(levels[0] + levels[1]),
        r(levels[0] + levels[1] + levels[2]),
        r(levels[3]),
    ];
    let users: Vec<(u128, User)> = outs
        .iter_mut()
        .flat_map(|o| std::mem::take(&mut o.users))
        .collect();
    let seconds_data = clock.elapsed().as_secs_f64();
    let reference = (cfg.reference_users > 0)
        .then(|| reference::table(&world, cfg.reference_users, cfg.threads));
    let log_files: Vec<String> = outs.iter().map(|o| o.name.clone()).collect();
    let bytes_text = tf_text + outs.iter().map(|o| o.text).sum::<u64>();
    let mut bytes_on_disk = 0;
    for name in log_files.iter().chain(&track_files) {
        let p = staged.join(name);
        bytes_on_disk += std::fs::metadata(&p)
            .map_err(|e| DataError::io(&p, e))?
            .len();
    }
    let report = SynthReport {
        log_files,
        track_files,
        sessions: cfg.sessions as u64,
        records,
        bytes_text,
        bytes_on_disk,
        rates,
        thresholds: world.model.thresholds,
        reference,
    };
    saved::save(&world, cfg, &report, &users, staged.path())?;
    staged.commit().map_err(|e| DataError::io(out, e))?;
    Ok(SynthRun {
        report,
        seconds: seconds_data,
    })
}
/// The official features of the tracks of a default world of `tracks` tracks as a
/// track-features table (the track files' columns, a row per track): input for benchmarks of
/// the song space and its indexes.
pub fn track_table(tracks: usize, seed: u64) -> TrackTable {
    use crate::songs::features::RawValue;
    use features::TF_ORDER;
    let cfg = WorldConfig {
        pilot_sessions: 200,
        ..WorldConfig::default()
    };
    let world = World::build(cfg, tracks, seed).expect("default world");
    let mut columns: Vec<String> = TF_ORDER.iter().map(|s| s.to_string()).collect();
    columns.extend((0..8).map(|i| format!("acoustic_vector_{i}")));
    let rows: Vec<Vec<RawValue>> = world
        .tracks
        .iter()
        .map(|t| {
            let mut values = t.values.iter();
            let mut row: Vec<RawValue> = TF_ORDER
                .iter()
                .map(|name| match *name {
                    "key" => RawValue::Num(t.key as f64),
                    "mode" => RawValue::Major(t.major),
                    "time_signature" => RawValue::Num(t.time_signature as f64),
                    _ => RawValue::Num(values.next().copied().unwrap_or(0.0)),
                })
                .collect();
            row.extend(t.acoustic.iter().map(|&a| RawValue::Num(a)));
            row
        })
        .collect();
    (columns, rows)
}
