//! The per-file half of ingestion (the "map" of map-then-merge): one streaming pass over one log
//! file that validates every row, groups rows into sessions, counts what `segue stats` reports,
//! and keeps the file's share of the sample.
//!
//! Sampling keeps, among the file's complete sessions ordered by a seeded random priority
//! ([`super::ids::priority`]), the shortest prefix whose records reach the file's share. It runs
//! in one pass with memory bounded by the share: a max-heap holds the prefix, and a session whose
//! priority is above the heap's worst once the share is reached is never stored at all.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use super::csv::{ReadSummary, Record, Source, for_each_line_in, malformed};
use super::error::{DataError, Result, excerpt};
use super::ids::{IdSet, Stream, id_key, priority};
use super::schema::{COLUMNS, FieldError, Flags, Row, col, parse_row};

/// How one file is read.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// Skip (and count by reason) rows that do not parse, instead of failing.
    pub skip_bad_rows: bool,
    /// Master seed of the sample.
    pub seed: u64,
    /// Target records of this file's share; `None` reads without sampling.
    pub share: Option<u64>,
}

/// Why a session is left out of the sample (docs/data.md, "Incomplete sessions").
pub mod incomplete {
    pub const REPEATED_ID: &str = "session id seen earlier in the file (rows not contiguous)";
    pub const POSITIONS: &str = "positions are not 1..n in order";
    pub const LENGTH_VARIES: &str = "session_length differs between its rows";
    pub const ROWS_VS_LENGTH: &str = "row count differs from session_length";
}

/// Counters of one file, merged by addition.
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub records: u64,
    /// Records per skip level: skip_1, skip_2, skip_3, not_skipped.
    pub skips: [u64; 4],
    /// Records and skip_2 records by session position (1..=20; later positions count as 20).
    pub by_position: [[u64; 2]; 20],
    /// Rows whose skip flags break skip_1 ⇒ skip_2 ⇒ skip_3, not_skipped ⇔ ¬skip_3 (kept).
    pub inconsistent_skips: u64,
    /// Sessions by their number of rows.
    pub session_rows: BTreeMap<u32, u64>,
    /// Rows by context type.
    pub context_types: BTreeMap<String, u64>,
    /// Rows skipped with `--skip-bad-rows`, by reason.
    pub bad_rows: BTreeMap<String, u64>,
    /// Sessions left out of the sample, by reason, and their records.
    pub incomplete_sessions: BTreeMap<String, u64>,
    pub incomplete_records: u64,
    pub blank_lines: u64,
    /// Sessions by date (days since the epoch), for the split rule.
    pub session_dates: BTreeMap<i32, u64>,
}

impl Counts {
    pub fn merge(&mut self, o: &Counts) {
        fn add<K: Ord + Clone>(a: &mut BTreeMap<K, u64>, b: &BTreeMap<K, u64>) {
            for (k, v) in b {
                *a.entry(k.clone()).or_default() += v;
            }
        }
        self.records += o.records;
        for i in 0..4 {
            self.skips[i] += o.skips[i];
        }
        self.inconsistent_skips += o.inconsistent_skips;
        for (a, b) in self.by_position.iter_mut().zip(&o.by_position) {
            a[0] += b[0];
            a[1] += b[1];
        }
        add(&mut self.session_rows, &o.session_rows);
        add(&mut self.context_types, &o.context_types);
        add(&mut self.bad_rows, &o.bad_rows);
        add(&mut self.incomplete_sessions, &o.incomplete_sessions);
        self.incomplete_records += o.incomplete_records;
        self.blank_lines += o.blank_lines;
        add(&mut self.session_dates, &o.session_dates);
    }

    /// Counts one valid row.
    pub fn count_row(&mut self, flags: Flags, position: u16) {
        self.records += 1;
        let p = &mut self.by_position[(position.clamp(1, 20) - 1) as usize];
        p[0] += 1;
        p[1] += flags.has(Flags::SKIP_2) as u64;
        self.skips[0] += flags.has(Flags::SKIP_1) as u64;
        self.skips[1] += flags.has(Flags::SKIP_2) as u64;
        self.skips[2] += flags.has(Flags::SKIP_3) as u64;
        self.skips[3] += flags.has(Flags::NOT_SKIPPED) as u64;
        self.inconsistent_skips += !flags.skips_consistent() as u64;
    }
}

/// A small string dictionary (context types, start and end reasons).
#[derive(Clone, Debug, Default)]
pub struct Vocab {
    index: HashMap<Box<[u8]>, u16>,
    pub names: Vec<String>,
}

impl Vocab {
    /// The index of `s` (UTF-8, already checked), added if new; `None` past 65,536 values.
    pub fn id(&mut self, s: &[u8]) -> Option<u16> {
        if let Some(&i) = self.index.get(s) {
            return Some(i);
        }
        let i = u16::try_from(self.names.len()).ok()?;
        self.index.insert(s.into(), i);
        self.names.push(String::from_utf8_lossy(s).into_owned());
        Some(i)
    }
}

/// A complete session kept for the sample. Its rows' `track` is the index into `tracks`, and
/// their dictionary fields index the file's [`FileScan::vocabs`].
#[derive(Debug)]
pub struct SampledSession {
    pub key: (u64, u64),
    /// Order of the session in its file.
    pub seq: u64,
    pub id: Box<str>,
    pub rows: Vec<Row>,
    pub tracks: Vec<Box<str>>,
}

impl PartialEq for SampledSession {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for SampledSession {}
impl PartialOrd for SampledSession {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for SampledSession {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

/// Everything one pass over one file produced.
#[derive(Debug)]
pub struct FileScan {
    pub path: PathBuf,
    pub bytes_on_disk: u64,
    pub read: ReadSummary,
    pub counts: Counts,
    /// Keys of the distinct track and session ids ([`id_key`]).
    pub tracks: IdSet,
    pub sessions: IdSet,
    /// Dictionaries of context_type, reason_start, reason_end for the sampled rows.
    pub vocabs: [Vocab; 3],
    /// The sampled sessions in file order.
    pub sampled: Vec<SampledSession>,
    pub share: Option<u64>,
    /// Header columns that are not in the official schema (ignored).
    pub extra_columns: Vec<String>,
}

/// The session being read.
struct Open {
    id: Vec<u8>,
    rows: u32,
    declared: u16,
    positions_ok: bool,
    length_same: bool,
    date: i32,
    key: (u64, u64),
    keep: Option<SampledSession>,
}

struct Scanner<'a> {
    path: &'a Path,
    opts: &'a ScanOptions,
    columns: [usize; 21],
    width: usize,
    scan: FileScan,
    open: Option<Open>,
    heap: BinaryHeap<SampledSession>,
    heap_rows: u64,
    seq: u64,
    last_context: (Vec<u8>, u64),
}

/// Maps the header onto the official columns.
fn map_header(path: &Path, header: &Record) -> Result<([usize; 21], Vec<String>)> {
    let mut names = Vec::with_capacity(header.len());
    for (i, f) in header.iter().enumerate() {
        let f = if i == 0 {
            f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f)
        } else {
            f
        };
        if f.contains(&0) {
            return Err(DataError::NotCsv {
                path: path.to_path_buf(),
                why: "the first line holds binary data".into(),
            });
        }
        let Ok(s) = std::str::from_utf8(f) else {
            return Err(DataError::NotCsv {
                path: path.to_path_buf(),
                why: "the first line is not UTF-8 text".into(),
            });
        };
        names.push(s.trim().to_owned());
    }
    // A column named twice would leave it open which copy holds the data: refused.
    let mut first_at: HashMap<&str, usize> = HashMap::new();
    for (i, n) in names.iter().enumerate().filter(|(_, n)| !n.is_empty()) {
        if let Some(&j) = first_at.get(n.as_str()) {
            return Err(DataError::NotCsv {
                path: path.to_path_buf(),
                why: format!(
                    "the header names column {} twice, at positions {} and {} (counted from 1)",
                    excerpt(n.as_bytes()),
                    j + 1,
                    i + 1
                ),
            });
        }
        first_at.insert(n, i);
    }
    let mut columns = [usize::MAX; 21];
    let mut missing = Vec::new();
    for (c, name) in COLUMNS.iter().enumerate() {
        match first_at.get(name) {
            Some(&i) => columns[c] = i,
            None => missing.push(*name),
        }
    }
    if !missing.is_empty() {
        let mut header = names.join(",");
        if header.len() > 200 {
            let cut = (0..=200)
                .rev()
                .find(|&i| header.is_char_boundary(i))
                .unwrap_or(0);
            header.truncate(cut);
            header.push('…');
        }
        return Err(DataError::MissingColumns {
            path: path.to_path_buf(),
            columns: missing,
            header,
        });
    }
    let extra = names
        .iter()
        .filter(|n| !COLUMNS.contains(&n.as_str()))
        .cloned()
        .collect();
    Ok((columns, extra))
}

impl Scanner<'_> {
    fn bad_row(
        &mut self,
        line: u64,
        column: Option<usize>,
        reason: String,
        detail: String,
    ) -> Result<()> {
        if self.opts.skip_bad_rows {
            *self.scan.counts.bad_rows.entry(reason).or_default() += 1;
            return Ok(());
        }
        Err(match column {
            Some(c) => DataError::BadField {
                path: self.path.to_path_buf(),
                line,
                column: COLUMNS[c].to_owned(),
                problem: detail,
            },
            None => DataError::BadRow {
                path: self.path.to_path_buf(),
                line,
                problem: detail,
            },
        })
    }

    fn row(&mut self, line: u64, rec: &Record) -> Result<()> {
        if rec.len() != self.width {
            return self.bad_row(
                line,
                None,
                "wrong number of fields".into(),
                format!(
                    "expected {} fields as in the header, found {}",
                    self.width,
                    rec.len()
                ),
            );
        }
        let fields: [&[u8]; 21] = std::array::from_fn(|c| rec.get(self.columns[c]));
        let raw = match parse_row(&fields) {
            Ok(r) => r,
            Err(e) => return self.field_error(line, e),
        };
        let ascii = fields.iter().all(|f| f.is_ascii());
        for c in [
            col::SESSION_ID,
            col::TRACK_ID,
            col::CONTEXT_TYPE,
            col::REASON_START,
            col::REASON_END,
        ] {
            if !ascii && std::str::from_utf8(fields[c]).is_err() {
                return self.field_error(line, FieldError::new(c, "not UTF-8 text", fields[c]));
            }
        }
        // Strings were checked just above.
        let utf8 = |b: &[u8]| -> Box<str> { std::str::from_utf8(b).unwrap_or_default().into() };

        let counts = &mut self.scan.counts;
        counts.count_row(raw.flags, raw.position);
        if self.last_context.0 != raw.context_type {
            self.flush_context();
            self.last_context.0 = raw.context_type.to_vec();
        }
        self.last_context.1 += 1;
        self.scan.tracks.insert(id_key(raw.track_id));

        if self.open.as_ref().is_none_or(|o| o.id != raw.session_id) {
            self.close_session();
            let key = priority(self.opts.seed, Stream::Sample, raw.session_id);
            let wanted = match self.opts.share {
                None | Some(0) => false,
                Some(share) => {
                    self.heap_rows < share || self.heap.peek().is_some_and(|top| key < top.key)
                }
            };
            self.seq += 1;
            self.open = Some(Open {
                id: raw.session_id.to_vec(),
                rows: 0,
                declared: raw.length,
                positions_ok: true,
                length_same: true,
                date: raw.date,
                key,
                keep: wanted.then(|| SampledSession {
                    key,
                    seq: self.seq,
                    id: utf8(raw.session_id),
                    rows: Vec::with_capacity(raw.length as usize),
                    tracks: Vec::with_capacity(raw.length as usize),
                }),
            });
        }
        let [vc, vs, ve] = &mut self.scan.vocabs;
        let Some(open) = self.open.as_mut() else {
            unreachable!("a session was opened above")
        };
        open.rows += 1;
        open.positions_ok &= raw.position as u32 == open.rows;
        open.length_same &= raw.length == open.declared;
        if let Some(keep) = open.keep.as_mut() {
            let too_many = || DataError::BadRow {
                path: self.path.to_path_buf(),
                line,
                problem: "more than 65,536 distinct context types or reasons".into(),
            };
            keep.rows.push(Row {
                track: keep.tracks.len() as u32,
                position: raw.position,
                length: raw.length,
                flags: raw.flags,
                n_seekfwd: raw.n_seekfwd,
                n_seekback: raw.n_seekback,
                hour: raw.hour,
                date: raw.date,
                context_type: vc.id(raw.context_type).ok_or_else(too_many)?,
                reason_start: vs.id(raw.reason_start).ok_or_else(too_many)?,
                reason_end: ve.id(raw.reason_end).ok_or_else(too_many)?,
            });
            keep.tracks.push(utf8(raw.track_id));
        }
        Ok(())
    }

    fn field_error(&mut self, line: u64, e: FieldError) -> Result<()> {
        let detail = format!("{} (value {})", e.problem, e.value);
        self.bad_row(line, Some(e.column), e.reason(), detail)
    }

    fn flush_context(&mut self) {
        let (name, n) = std::mem::take(&mut self.last_context);
        if n > 0 {
            *self
                .scan
                .counts
                .context_types
                .entry(String::from_utf8_lossy(&name).into_owned())
                .or_default() += n;
        }
    }

    fn close_session(&mut self) {
        let Some(open) = self.open.take() else { return };
        let counts = &mut self.scan.counts;
        let first_time = self.scan.sessions.insert(id_key(&open.id));
        let problem = if !first_time {
            Some(incomplete::REPEATED_ID)
        } else if !open.positions_ok {
            Some(incomplete::POSITIONS)
        } else if !open.length_same {
            Some(incomplete::LENGTH_VARIES)
        } else if open.rows != open.declared as u32 {
            Some(incomplete::ROWS_VS_LENGTH)
        } else {
            None
        };
        if first_time {
            *counts.session_rows.entry(open.rows).or_default() += 1;
            *counts.session_dates.entry(open.date).or_default() += 1;
        }
        if let Some(p) = problem {
            *counts.incomplete_sessions.entry(p.to_owned()).or_default() += 1;
            counts.incomplete_records += open.rows as u64;
            return;
        }
        let (Some(share), Some(keep)) = (self.opts.share, open.keep) else {
            return;
        };
        debug_assert_eq!(keep.key, open.key);
        self.heap_rows += keep.rows.len() as u64;
        self.heap.push(keep);
        // Keep the shortest prefix (by priority) whose records reach the share.
        while let Some(top) = self.heap.peek() {
            let without = self.heap_rows - top.rows.len() as u64;
            if without < share {
                break;
            }
            self.heap_rows = without;
            self.heap.pop();
        }
    }
}

/// Reads one log file: validates and counts every row and, when `opts.share` is set, samples it.
pub fn scan_file(
    path: &Path,
    opts: &ScanOptions,
    progress: Option<ProgressBar>,
) -> Result<FileScan> {
    scan_source(Source::File(path.to_path_buf()), opts, progress)
}

/// [`scan_file`] over any [`Source`]: a file, or a stream named as the file it carries. A
/// stream's size is the count of bytes read from it.
pub fn scan_source(
    source: Source,
    opts: &ScanOptions,
    progress: Option<ProgressBar>,
) -> Result<FileScan> {
    let path = &source.name().to_path_buf();
    let size = match &source {
        Source::File(p) => Some(std::fs::metadata(p).map_err(|e| DataError::io(p, e))?.len()),
        Source::Stream { .. } | Source::Bytes { .. } => None,
    };
    let mut scanner = Scanner {
        path,
        opts,
        columns: [0; 21],
        width: 0,
        scan: FileScan {
            path: path.to_path_buf(),
            // Set once the file is read (a stream's size is known only then).
            bytes_on_disk: 0,
            read: ReadSummary::default(),
            counts: Counts::default(),
            tracks: IdSet::default(),
            sessions: IdSet::default(),
            vocabs: Default::default(),
            sampled: Vec::new(),
            share: opts.share,
            extra_columns: Vec::new(),
        },
        open: None,
        heap: BinaryHeap::new(),
        heap_rows: 0,
        seq: 0,
        last_context: (Vec::new(), 0),
    };
    let mut header_seen = false;
    let read = for_each_line_in(source, progress, |line, rec| {
        let rec = match rec {
            Ok(rec) => rec,
            // A malformed row is skipped like any other bad row; a malformed header is not.
            Err(problem) if header_seen => {
                return scanner.bad_row(
                    line,
                    None,
                    "malformed CSV".into(),
                    format!("malformed CSV: {problem}"),
                );
            }
            Err(problem) => return Err(malformed(path, line, problem)),
        };
        if header_seen {
            return scanner.row(line, rec);
        }
        let (columns, extra) = map_header(path, rec)?;
        scanner.columns = columns;
        scanner.width = rec.len();
        scanner.scan.extra_columns = extra;
        header_seen = true;
        Ok(())
    })?;
    if !header_seen {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    scanner.close_session();
    scanner.flush_context();
    let mut scan = scanner.scan;
    scan.read = read;
    scan.bytes_on_disk = size.unwrap_or(read.bytes_read);
    scan.counts.blank_lines = read.blank_lines;
    scan.sampled = scanner.heap.into_vec();
    scan.sampled.sort_unstable_by_key(|s| s.seq);
    Ok(scan)
}
