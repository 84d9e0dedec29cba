//! A sample in memory: sessions of whole rows with interned strings, its train / validation /
//! test split, and its official-schema CSV writer.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use super::csv::push_field;
use super::error::{DataError, Result};
use super::ids::{FoldHasher, Stream, id_key, priority};
use super::ingest::{Counts, FileScan};
use super::schema::{COLUMNS, Flags, Row, format_date};
use super::stats::LogStats;

/// Which part of the sample a session belongs to.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train = 0,
    Validation = 1,
    Test = 2,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    pub fn from_u8(v: u8) -> Option<Split> {
        Split::ALL.get(v as usize).copied()
    }
}

/// The split fractions, by session.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Share of sessions for training.
    pub train: f64,
    /// Share of sessions for validation (early stopping, model selection).
    pub validation: f64,
    /// Share of sessions held out for the final evaluation.
    pub test: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            train: 0.8,
            validation: 0.1,
            test: 0.1,
        }
    }
}

impl SplitConfig {
    /// Checks that the fractions are non-negative and sum to 1.
    pub fn validate(&self) -> Result<()> {
        let parts = [self.train, self.validation, self.test];
        if parts.iter().any(|p| !p.is_finite() || *p < 0.0)
            || (parts.iter().sum::<f64>() - 1.0).abs() > 1e-6
        {
            return Err(DataError::Config(format!(
                "split fractions must be non-negative and sum to 1, got train {} validation {} test {}",
                self.train, self.validation, self.test
            )));
        }
        Ok(())
    }
}

/// How the split was drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitRule {
    /// Sessions ordered by date (earliest to training), ties in seeded random order.
    Chronological,
    /// All sessions share one date: seeded random order.
    Seeded,
}

/// One session of a sample: its rows are `sample.rows[start .. start + len]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub start: u32,
    pub len: u32,
    pub date: i32,
    pub split: Split,
    /// Index of the input file it came from, in the sample's manifest.
    pub file: u32,
}

/// A sample: whole sessions, their rows, and the dictionaries the rows index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    pub tracks: Vec<String>,
    pub context_types: Vec<String>,
    pub reasons_start: Vec<String>,
    pub reasons_end: Vec<String>,
    pub sessions: Vec<Session>,
    pub rows: Vec<Row>,
}

/// Interns strings into a dense table, keyed by their 128-bit [`id_key`] (exact for MSSD's
/// UUID-shaped ids).
#[derive(Default)]
struct Interner {
    index: std::collections::HashMap<u128, u32, std::hash::BuildHasherDefault<FoldHasher>>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        let next = self.names.len() as u32;
        let i = *self.index.entry(id_key(s.as_bytes())).or_insert(next);
        if i == next {
            self.names.push(s.to_owned());
        }
        i
    }
}

impl Sample {
    /// The rows of `s`.
    pub fn rows_of(&self, s: &Session) -> &[Row] {
        &self.rows[s.start as usize..(s.start + s.len) as usize]
    }

    /// Sessions of one split.
    pub fn sessions_in(&self, split: Split) -> impl Iterator<Item = &Session> {
        self.sessions.iter().filter(move |s| s.split == split)
    }

    /// Joins the sampled sessions of every file (in file order) into one sample, every session
    /// in training until [`Sample::assign_splits`].
    pub fn from_scans(scans: &mut [FileScan]) -> Result<Sample> {
        let mut tracks = Interner::default();
        let mut dicts: [Interner; 3] = Default::default();
        let mut sample = Sample::default();
        for (fi, scan) in scans.iter_mut().enumerate() {
            let remap: Vec<Vec<u16>> = (0..3)
                .map(|d| {
                    scan.vocabs[d]
                        .names
                        .iter()
                        .map(|n| u16::try_from(dicts[d].id(n)))
                        .collect::<std::result::Result<Vec<u16>, _>>()
                })
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    DataError::Config("more than 65,536 distinct context types or reasons".into())
                })?;
            for s in std::mem::take(&mut scan.sampled) {
                let start = u32::try_from(sample.rows.len())
                    .map_err(|_| DataError::Config("a sample is limited to 2^32 records".into()))?;
                let date = s.rows.first().map_or(0, |r| r.date);
                for (mut r, t) in s.rows.into_iter().zip(s.tracks.iter()) {
                    r.track = tracks.id(t);
                    r.context_type = remap[0][r.context_type as usize];
                    r.reason_start = remap[1][r.reason_start as usize];
                    r.reason_end = remap[2][r.reason_end as usize];
                    sample.rows.push(r);
                }
                sample.sessions.push(Session {
                    id: s.id.into(),
                    start,
                    len: sample.rows.len() as u32 - start,
                    date,
                    split: Split::Train,
                    file: fi as u32,
                });
            }
        }
        sample.tracks = tracks.names;
        let [c, rs, re] = dicts;
        sample.context_types = c.names;
        sample.reasons_start = rs.names;
        sample.reasons_end = re.names;
        Ok(sample)
    }

    /// Splits the sessions: ordered by date, ties (all of them when the dates agree) in a seeded
    /// random order, the first `train` share to training, the next `validation` share to
    /// validation, the rest to test. A session is never in two splits.
    pub fn assign_splits(&mut self, cfg: &SplitConfig, seed: u64) -> Result<SplitRule> {
        cfg.validate()?;
        let mut order: Vec<(i32, (u64, u64), usize)> = self
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| (s.date, priority(seed, Stream::Split, s.id.as_bytes()), i))
            .collect();
        order.sort_unstable();
        let n = order.len();
        let n_train = (cfg.train * n as f64).round() as usize;
        let n_val = ((cfg.validation * n as f64).round() as usize).min(n - n_train.min(n));
        for (rank, &(_, _, i)) in order.iter().enumerate() {
            self.sessions[i].split = if rank < n_train {
                Split::Train
            } else if rank < n_train + n_val {
                Split::Validation
            } else {
                Split::Test
            };
        }
        let first = order.first().map(|o| o.0);
        let last = order.last().map(|o| o.0);
        Ok(if first == last {
            SplitRule::Seeded
        } else {
            SplitRule::Chronological
        })
    }

    /// Statistics of the sample (bytes left at zero: they belong to the written files).
    pub fn stats(&self) -> LogStats {
        let mut c = Counts::default();
        for s in &self.sessions {
            *c.session_rows.entry(s.len).or_default() += 1;
            *c.session_dates.entry(s.date).or_default() += 1;
        }
        let mut ctx = vec![0u64; self.context_types.len()];
        for r in &self.rows {
            c.count_row(r.flags, r.position);
            ctx[r.context_type as usize] += 1;
        }
        c.context_types = self
            .context_types
            .iter()
            .cloned()
            .zip(ctx)
            .filter(|(_, n)| *n > 0)
            .collect();
        let files = self
            .sessions
            .iter()
            .map(|s| s.file)
            .max()
            .map_or(0, |m| m as usize + 1);
        LogStats::from_counts(
            &c,
            files,
            0,
            0,
            self.sessions.len() as u64,
            self.tracks.len() as u64,
        )
    }

    /// Writes the sample as an official-schema log (gzip when `path` ends in `.gz`), booleans as
    /// `true`/`false` like Spotify's raw files. Returns the bytes of CSV text written.
    pub fn write_csv(
        &self,
        path: &Path,
        level: u32,
        progress: Option<indicatif::ProgressBar>,
    ) -> Result<u64> {
        let mut out = CsvOut::create(path, level)?;
        let mut buf = Vec::with_capacity(BLOCK);
        buf.extend_from_slice(COLUMNS.join(",").as_bytes());
        buf.push(b'\n');
        let mut text = 0u64;
        let io = |e| DataError::io(path, e);
        let b = |v: bool| -> &'static [u8] { if v { b"true" } else { b"false" } };
        let d = |v: bool| -> &'static [u8] { if v { b"1" } else { b"0" } };
        for s in &self.sessions {
            for r in self.rows_of(s) {
                let f = r.flags;
                push_field(&mut buf, s.id.as_bytes());
                let _ = write!(buf, ",{},{},", r.position, r.length);
                push_field(&mut buf, self.tracks[r.track as usize].as_bytes());
                for (bit, boolean) in [
                    (Flags::SKIP_1, true),
                    (Flags::SKIP_2, true),
                    (Flags::SKIP_3, true),
                    (Flags::NOT_SKIPPED, true),
                    (Flags::CONTEXT_SWITCH, false),
                    (Flags::NO_PAUSE, false),
                    (Flags::SHORT_PAUSE, false),
                    (Flags::LONG_PAUSE, false),
                ] {
                    buf.push(b',');
                    buf.extend_from_slice(if boolean {
                        b(f.has(bit))
                    } else {
                        d(f.has(bit))
                    });
                }
                let _ = write!(buf, ",{},{},", r.n_seekfwd, r.n_seekback);
                buf.extend_from_slice(b(f.has(Flags::SHUFFLE)));
                let _ = write!(buf, ",{},{},", r.hour, format_date(r.date));
                buf.extend_from_slice(b(f.has(Flags::PREMIUM)));
                for (dict, i) in [
                    (&self.context_types, r.context_type),
                    (&self.reasons_start, r.reason_start),
                    (&self.reasons_end, r.reason_end),
                ] {
                    buf.push(b',');
                    push_field(&mut buf, dict[i as usize].as_bytes());
                }
                buf.push(b'\n');
            }
            if let Some(p) = &progress {
                p.inc(s.len as u64);
            }
            text += out.write_block(&mut buf, false).map_err(io)?;
        }
        text += out.write_block(&mut buf, true).map_err(io)?;
        out.finish().map_err(io)?;
        Ok(text)
    }
}

/// Bytes of text per block (and per gzip member) that CSV writers hand to [`CsvOut`].
pub const BLOCK: usize = 1 << 20;

/// A CSV output file, gzip-compressed when its name ends in `.gz`.
///
/// Compression runs on as many threads as there are cores: each block of text becomes a gzip
/// member of its own, compressed in parallel and written in order (a multi-member gzip file,
/// as pigz and bgzip write; gzip, zcat, Python's gzip, pandas and polars read it whole). The
/// bytes do not depend on the number of threads.
pub enum CsvOut {
    Gz(GzPipeline),
    Plain(std::io::BufWriter<std::fs::File>),
}

type Job = (u64, Vec<u8>);

/// The parallel gzip writer behind [`CsvOut::Gz`].
pub struct GzPipeline {
    jobs: Option<std::sync::mpsc::SyncSender<Job>>,
    next: u64,
    workers: Vec<std::thread::JoinHandle<std::io::Result<()>>>,
    writer: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl GzPipeline {
    fn new(file: std::io::BufWriter<std::fs::File>, level: u32) -> std::io::Result<GzPipeline> {
        use std::sync::mpsc::sync_channel;
        use std::sync::{Arc, Mutex};
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (jobs, job_rx) = sync_channel::<Job>(2 * threads);
        let (done_tx, done_rx) = sync_channel::<Job>(2 * threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let (rx, tx) = (Arc::clone(&job_rx), done_tx.clone());
            workers.push(
                std::thread::Builder::new()
                    .name("segue-gzip".into())
                    .spawn(move || -> std::io::Result<()> {
                        loop {
                            let job = match rx.lock() {
                                Ok(r) => r.recv(),
                                Err(_) => {
                                    return Err(std::io::Error::other("a gzip worker panicked"));
                                }
                            };
                            let Ok((seq, block)) = job else { return Ok(()) };
                            let mut enc = GzEncoder::new(
                                Vec::with_capacity(block.len() / 3),
                                Compression::new(level),
                            );
                            enc.write_all(&block)?;
                            if tx.send((seq, enc.finish()?)).is_err() {
                                return Ok(());
                            }
                        }
                    })?,
            );
        }
        drop(done_tx);
        let writer = std::thread::Builder::new()
            .name("segue-write".into())
            .spawn(move || -> std::io::Result<()> {
                let mut file = file;
                let mut pending = std::collections::BTreeMap::new();
                let mut next = 0u64;
                for (seq, member) in done_rx {
                    pending.insert(seq, member);
                    while let Some(m) = pending.remove(&next) {
                        file.write_all(&m)?;
                        next += 1;
                    }
                }
                if !pending.is_empty() {
                    return Err(std::io::Error::other("a gzip block was lost"));
                }
                file.into_inner().map_err(|e| e.into_error())?.sync_all()
            })?;
        Ok(GzPipeline {
            jobs: Some(jobs),
            next: 0,
            workers,
            writer: Some(writer),
        })
    }

    fn send(&mut self, block: Vec<u8>) -> std::io::Result<()> {
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|j| j.send((self.next, block)).is_ok());
        self.next += 1;
        if sent {
            Ok(())
        } else {
            // Everything stopped: the threads' errors say why.
            self.join()
                .and(Err(std::io::Error::other("the gzip writer stopped")))
        }
    }

    fn join(&mut self) -> std::io::Result<()> {
        self.jobs.take();
        let mut result = Ok(());
        let handles = self.workers.drain(..).chain(self.writer.take());
        for h in handles.collect::<Vec<_>>() {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("a gzip thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

impl CsvOut {
    pub fn create(path: &Path, level: u32) -> Result<CsvOut> {
        let file = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
        let file = std::io::BufWriter::with_capacity(1 << 20, file);
        if path.extension().is_none_or(|e| e != "gz") {
            return Ok(CsvOut::Plain(file));
        }
        Ok(CsvOut::Gz(
            GzPipeline::new(file, level).map_err(|e| DataError::io(path, e))?,
        ))
    }

    /// Writes text; gzip output is cut into members at block boundaries, so callers should
    /// pass blocks of a megabyte or so.
    pub fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            CsvOut::Gz(p) => p.send(b.to_vec()),
            CsvOut::Plain(w) => w.write_all(b),
        }
    }

    /// Hands `buf` over as one block once it nears [`BLOCK`] bytes (always when `last`) and
    /// clears it; returns the bytes handed over.
    pub fn write_block(&mut self, buf: &mut Vec<u8>, last: bool) -> std::io::Result<u64> {
        if !last && buf.len() <= BLOCK - 8192 {
            return Ok(0);
        }
        let n = buf.len() as u64;
        self.write_all(buf)?;
        buf.clear();
        Ok(n)
    }

    /// Ends the output and flushes it to disk; errors are reported, never lost in a drop.
    pub fn finish(self) -> std::io::Result<()> {
        match self {
            CsvOut::Gz(mut p) => p.join(),
            CsvOut::Plain(w) => w.into_inner().map_err(|e| e.into_error())?.sync_all(),
        }
    }
}
