//! A streaming CSV record reader for session logs: plain or gzip input (detected by its magic
//! bytes, not its name), decompressed on a second thread so that inflating and parsing overlap,
//! RFC 4180 quoting, and a fast path for the quote-free lines that MSSD files consist of.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use flate2::bufread::GzDecoder;
use indicatif::ProgressBar;
use memchr::{memchr, memchr_iter};

use super::error::{DataError, Result};

const CHUNK: usize = 1 << 22;
/// A record longer than this is taken as a sign that the file is not CSV at all.
const MAX_RECORD: usize = 1 << 26;

/// One record: its fields as byte slices, resolved lazily from ranges into `base`.
pub struct Record<'a> {
    base: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Record<'a> {
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn get(&self, i: usize) -> &'a [u8] {
        let (s, e) = self.ranges[i];
        &self.base[s..e]
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.ranges.iter().map(|&(s, e)| &self.base[s..e])
    }
}

/// What a pass over one file saw besides its records.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadSummary {
    /// Bytes after decompression.
    pub bytes_uncompressed: u64,
    /// Lines holding nothing (skipped, but counted).
    pub blank_lines: u64,
    pub gzip: bool,
    /// Bytes read from the source (compressed, for gzip): the file's size once it is read
    /// through.
    pub bytes_read: u64,
}

/// Counts the bytes read from the source (compressed, for gzip) into a progress bar and a
/// shared total.
struct Counting<R> {
    inner: R,
    progress: Option<ProgressBar>,
    total: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(p) = &self.progress {
            p.inc(n as u64);
        }
        self.total.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Decodes every member of a gzip stream, as gzip and Python's `gzip` module do: members follow
/// one another, and zero bytes after a member (the padding that tape and block devices leave)
/// are skipped; any other bytes after a member are an error, never silently ignored.
struct GzMembers<R: BufRead> {
    member: Option<GzDecoder<R>>,
}

impl<R: BufRead> GzMembers<R> {
    fn new(r: R) -> Self {
        GzMembers {
            member: Some(GzDecoder::new(r)),
        }
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(member) = self.member.as_mut() else {
                return Ok(0);
            };
            let n = member.read(out)?;
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
            // The member ended (its CRC and length checked): what follows?
            let Some(mut rest) = self.member.take().map(GzDecoder::into_inner) else {
                return Ok(0);
            };
            loop {
                let buf = rest.fill_buf()?;
                let zeros = buf.iter().take_while(|&&b| b == 0).count();
                if buf.is_empty() {
                    return Ok(0);
                } else if zeros > 0 {
                    rest.consume(zeros);
                } else if buf[0] == 0x1f {
                    // Another member; a damaged header is reported by its decoder.
                    self.member = Some(GzDecoder::new(rest));
                    break;
                } else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "bytes after the last gzip member are neither a member nor zero padding",
                    ));
                }
            }
        }
    }
}

/// Where a file's bytes come from: the file itself, or a stream (standard input, when a
/// distributed engine reads the storage and pipes each file to `segue sample-map`). `name` is
/// what errors and results call it.
pub enum Source {
    File(PathBuf),
    Stream {
        name: PathBuf,
        reader: Box<dyn Read + Send>,
    },
    /// Bytes already in memory (plain or gzip), read on the calling thread: no reader thread
    /// and no chunk buffers, for many small inputs (the fuzz harness).
    Bytes {
        name: PathBuf,
        bytes: Vec<u8>,
    },
}

impl Source {
    pub fn name(&self) -> &Path {
        match self {
            Source::File(p) => p,
            Source::Stream { name, .. } | Source::Bytes { name, .. } => name,
        }
    }
}

/// Where the record loop gets its chunks: the reader thread, or bytes already in memory.
enum Feed {
    Thread {
        rx: Receiver<Chunk>,
        recycle: SyncSender<Vec<u8>>,
        total: Arc<AtomicU64>,
    },
    Memory {
        chunk: Option<Chunk>,
        len: u64,
    },
}

impl Feed {
    /// Starts reading `source`; also says whether it is gzip.
    fn open(source: Source, progress: Option<ProgressBar>) -> Result<(Feed, bool)> {
        let Source::Bytes { name, bytes } = source else {
            let (rx, recycle, gzip, total) = spawn_reader(source, progress)?;
            return Ok((Feed::Thread { rx, recycle, total }, gzip));
        };
        let len = bytes.len() as u64;
        let gzip = bytes.starts_with(&[0x1f, 0x8b]);
        let chunk = if gzip {
            let mut out = Vec::new();
            GzMembers::new(&bytes[..])
                .read_to_end(&mut out)
                .map(|_| out)
                .map_err(|source| DataError::Gzip { path: name, source })
        } else {
            Ok(bytes)
        };
        Ok((
            Feed::Memory {
                chunk: Some(chunk),
                len,
            },
            gzip,
        ))
    }

    /// The next chunk; an empty one, or `None`, at the end.
    fn next(&mut self) -> Option<Chunk> {
        match self {
            Feed::Thread { rx, .. } => rx.recv().ok(),
            Feed::Memory { chunk, .. } => chunk.take(),
        }
    }

    /// Hands a spent buffer back for reuse.
    fn recycle(&self, buf: Vec<u8>) {
        if let Feed::Thread { recycle, .. } = self {
            let _ = recycle.try_send(buf);
        }
    }

    /// Bytes read from the source so far (compressed, for gzip).
    fn bytes_read(&self) -> u64 {
        match self {
            Feed::Thread { total, .. } => total.load(Ordering::Relaxed),
            Feed::Memory { len, .. } => *len,
        }
    }
}

type Chunk = Result<Vec<u8>>;

/// What [`spawn_reader`] hands back: chunks, the channel for spent buffers, whether the input
/// is gzip, and the count of source bytes read so far.
type Reader = (Receiver<Chunk>, SyncSender<Vec<u8>>, bool, Arc<AtomicU64>);

/// Reads `source` on its own thread in chunks of a few MiB, decompressing gzip (recognised by
/// its first two bytes), and hands them over through a bounded channel; spent buffers come back
/// through `recycle` to avoid reallocation.
fn spawn_reader(source: Source, progress: Option<ProgressBar>) -> Result<Reader> {
    let path = source.name().to_path_buf();
    let mut inner: Box<dyn Read + Send> = match source {
        Source::File(p) => Box::new(File::open(&p).map_err(|e| DataError::io(&p, e))?),
        Source::Stream { reader, .. } => reader,
        Source::Bytes { bytes, .. } => Box::new(io::Cursor::new(bytes)),
    };
    // The first two bytes decide gzip; they are read here and put back in front.
    let mut magic = Vec::with_capacity(2);
    while magic.len() < 2 {
        let mut b = [0u8; 2];
        match inner.read(&mut b[..2 - magic.len()]) {
            Ok(0) => break,
            Ok(n) => magic.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DataError::io(&path, e)),
        }
    }
    let gzip = magic == [0x1f, 0x8b];
    // Counted when they pass through `Counting` again.
    let total = Arc::new(AtomicU64::new(0));
    let counting = Counting {
        inner: io::Cursor::new(magic).chain(inner),
        progress,
        total: total.clone(),
    };
    let (tx, rx) = sync_channel::<Chunk>(2);
    let (recycle_tx, recycle_rx) = sync_channel::<Vec<u8>>(4);
    std::thread::Builder::new()
        .name("segue-read".into())
        .spawn(move || {
            let mut reader: Box<dyn Read> = if gzip {
                Box::new(GzMembers::new(BufReader::with_capacity(1 << 16, counting)))
            } else {
                Box::new(counting)
            };
            loop {
                let mut buf = recycle_rx.try_recv().unwrap_or_default();
                buf.clear();
                buf.resize(CHUNK, 0);
                let mut filled = 0;
                let res = loop {
                    match reader.read(&mut buf[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == buf.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(filled);
                let last = filled == 0;
                let msg = match res {
                    Ok(()) => Ok(buf),
                    Err(source) if gzip => Err(DataError::Gzip {
                        path: path.clone(),
                        source,
                    }),
                    Err(source) => Err(DataError::Io {
                        path: path.clone(),
                        source,
                    }),
                };
                let failed = msg.is_err();
                if tx.send(msg).is_err() || failed || last {
                    return;
                }
            }
        })
        .map_err(|e| DataError::io("<thread>", e))?;
    Ok((rx, recycle_tx, gzip, total))
}

/// Splits `rec` (one record, without its line terminator) into `ranges`. Quoted fields are
/// unescaped into `scratch`, and then the ranges point into `scratch` instead of `rec`.
/// Returns whether `scratch` holds the fields.
fn split_record(
    rec: &[u8],
    ranges: &mut Vec<(usize, usize)>,
    scratch: &mut Vec<u8>,
) -> std::result::Result<bool, &'static str> {
    ranges.clear();
    let rec = rec.strip_suffix(b"\r").unwrap_or(rec);
    // Fast path: find the commas of a quote-free line 16 bytes at a time; the first quote
    // sends the line to the full parser below.
    if split_unquoted(rec, ranges) {
        return Ok(false);
    }
    ranges.clear();
    scratch.clear();
    let mut i = 0;
    let mut start = 0;
    let mut in_quotes = false;
    let mut field_quoted = false;
    while i < rec.len() {
        let b = rec[i];
        if in_quotes {
            if b == b'"' {
                if rec.get(i + 1) == Some(&b'"') {
                    scratch.push(b'"');
                    i += 1;
                } else {
                    in_quotes = false;
                }
            } else {
                scratch.push(b);
            }
        } else if b == b',' {
            ranges.push((start, scratch.len()));
            start = scratch.len();
            field_quoted = false;
        } else if b == b'"' {
            if field_quoted || scratch.len() != start {
                return Err("a quote inside an unquoted field");
            }
            in_quotes = true;
            field_quoted = true;
        } else {
            if field_quoted {
                return Err("text after a closing quote");
            }
            scratch.push(b);
        }
        i += 1;
    }
    if in_quotes {
        return Err("an unterminated quoted field");
    }
    ranges.push((start, scratch.len()));
    Ok(true)
}

/// Pushes the field ranges of `rec` split at commas; returns false (ranges unspecified) when
/// `rec` holds a quote.
#[cfg(target_arch = "x86_64")]
fn split_unquoted(rec: &[u8], ranges: &mut Vec<(usize, usize)>) -> bool {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    let mut start = 0;
    let mut base = 0;
    // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16 bytes inside `rec`.
    unsafe {
        let comma = _mm_set1_epi8(b',' as i8);
        let quote = _mm_set1_epi8(b'"' as i8);
        while base + 16 <= rec.len() {
            let v = _mm_loadu_si128(rec.as_ptr().add(base) as *const __m128i);
            if _mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) != 0 {
                return false;
            }
            let mut m = _mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) as u32;
            while m != 0 {
                let i = base + m.trailing_zeros() as usize;
                ranges.push((start, i));
                start = i + 1;
                m &= m - 1;
            }
            base += 16;
        }
    }
    split_unquoted_scalar(&rec[base..], base, start, ranges)
}

#[cfg(not(target_arch = "x86_64"))]
fn split_unquoted(rec: &[u8], ranges: &mut Vec<(usize, usize)>) -> bool {
    split_unquoted_scalar(rec, 0, 0, ranges)
}

/// The scalar tail of [`split_unquoted`]: `tail` starts at `offset` in the record, and the
/// current field at `start`.
fn split_unquoted_scalar(
    tail: &[u8],
    offset: usize,
    mut start: usize,
    ranges: &mut Vec<(usize, usize)>,
) -> bool {
    for (k, &b) in tail.iter().enumerate() {
        if b == b',' {
            ranges.push((start, offset + k));
            start = offset + k + 1;
        } else if b == b'"' {
            return false;
        }
    }
    ranges.push((start, offset + tail.len()));
    true
}

/// The end (index of the terminating `\n`) of the record starting at `buf[0]`, honouring quoted
/// fields that may hide newlines. As in RFC 4180 a quote
/// opens a quoted field only at the start of a field: a stray quote inside a field
/// (`edi"torial`) does not swallow the lines after it, and the record it is in is reported as
/// malformed by [`split_record`] (so `--skip-bad-rows` can skip it). When the buffer ends
/// first, `Err` says whether it ended inside a quoted field.
fn quoted_record_end(buf: &[u8]) -> std::result::Result<usize, bool> {
    let mut in_quotes = false;
    let mut field_start = true;
    let mut i = 0;
    while i < buf.len() {
        let b = buf[i];
        if in_quotes {
            if b == b'"' {
                if buf.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
        } else {
            match b {
                b'\n' => return Ok(i),
                b'"' if field_start => in_quotes = true,
                _ => {}
            }
            field_start = b == b',';
        }
        i += 1;
    }
    Err(in_quotes)
}

/// Calls `f(line, record)` for every record of `path`, the header included (line 1). `line` is
/// the 1-based line on which the record starts. Blank lines are skipped and counted; a record
/// that is not valid CSV is an error naming its line.
pub fn for_each_record(
    path: &Path,
    progress: Option<ProgressBar>,
    f: impl FnMut(u64, &Record) -> Result<()>,
) -> Result<ReadSummary> {
    for_each_record_in(Source::File(path.to_path_buf()), progress, f)
}

/// [`for_each_record`] over any [`Source`]; errors name the source's `name`.
pub fn for_each_record_in(
    source: Source,
    progress: Option<ProgressBar>,
    mut f: impl FnMut(u64, &Record) -> Result<()>,
) -> Result<ReadSummary> {
    let path = source.name().to_path_buf();
    for_each_line_in(source, progress, |line, rec| match rec {
        Ok(rec) => f(line, rec),
        Err(problem) => Err(malformed(&path, line, problem)),
    })
}

/// The error of a record that is not valid CSV.
pub fn malformed(path: &Path, line: u64, problem: &str) -> DataError {
    DataError::BadRow {
        path: path.to_path_buf(),
        line,
        problem: format!("malformed CSV: {problem}"),
    }
}

/// Like [`for_each_record_in`], but a record that is not valid CSV is handed to `f` as
/// `Err(problem)` instead of ending the pass, so that the caller can skip and count it. A
/// quoted field left open at the end of the file (or past the longest record) is malformed
/// too: its record is taken to end at the first line break, and reading goes on after it.
pub fn for_each_line_in(
    source: Source,
    progress: Option<ProgressBar>,
    mut f: impl FnMut(u64, std::result::Result<&Record, &'static str>) -> Result<()>,
) -> Result<ReadSummary> {
    let path = &source.name().to_path_buf();
    let (mut feed, gzip) = Feed::open(source, progress)?;
    let mut summary = ReadSummary {
        gzip,
        ..Default::default()
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut ranges = Vec::with_capacity(32);
    let mut scratch = Vec::new();
    let mut line: u64 = 0;
    let mut eof = false;
    while !eof {
        match feed.next() {
            Some(Ok(chunk)) if chunk.is_empty() => eof = true,
            Some(Ok(chunk)) => {
                summary.bytes_uncompressed += chunk.len() as u64;
                if buf.is_empty() {
                    // The whole chunk becomes the buffer: no copy.
                    let spent = std::mem::replace(&mut buf, chunk);
                    feed.recycle(spent);
                } else {
                    buf.extend_from_slice(&chunk);
                    feed.recycle(chunk);
                }
            }
            Some(Err(e)) => return Err(e),
            None => eof = true,
        }
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            if rest.is_empty() {
                break;
            }
            // A record ends at the first newline unless a quoted field opens before it.
            let mut unterminated = false;
            let (end, simple) = match memchr(b'\n', rest) {
                Some(nl) if memchr(b'"', &rest[..nl]).is_none() => (nl, true),
                first_nl => match quoted_record_end(rest) {
                    Ok(e) => (e, false),
                    // The last record of a file that does not end in a line break.
                    Err(false) if eof => (rest.len(), false),
                    Err(true) if eof || (rest.len() > MAX_RECORD && first_nl.is_some()) => {
                        unterminated = true;
                        (first_nl.unwrap_or(rest.len()), false)
                    }
                    Err(_) => break,
                },
            };
            let rec = &rest[..end];
            let newlines = if simple {
                1
            } else {
                1 + memchr_iter(b'\n', rec).count() as u64
            };
            line += 1;
            if rec.is_empty() || rec == b"\r" {
                summary.blank_lines += 1;
            } else if unterminated {
                f(line, Err("an unterminated quoted field"))?;
            } else {
                match split_record(rec, &mut ranges, &mut scratch) {
                    Ok(in_scratch) => {
                        let base: &[u8] = if in_scratch { &scratch } else { rec };
                        f(
                            line,
                            Ok(&Record {
                                base,
                                ranges: &ranges,
                            }),
                        )?
                    }
                    Err(problem) => f(line, Err(problem))?,
                }
            }
            line += newlines - 1;
            pos += (end + 1).min(rest.len());
        }
        buf.drain(..pos);
        if buf.len() > MAX_RECORD {
            return Err(DataError::NotCsv {
                path: path.to_path_buf(),
                why: format!("line {} is longer than {} MiB", line + 1, MAX_RECORD >> 20),
            });
        }
    }
    summary.bytes_read = feed.bytes_read();
    Ok(summary)
}

/// Appends `field` to `out`, quoted when it holds a comma, a quote or a line break.
pub fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    if field
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        out.push(b'"');
        for &b in field {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(field);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn records_of(bytes: &[u8], gzip: bool) -> Result<Vec<(u64, Vec<String>)>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let mut f = File::create(&path).unwrap();
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::default());
            enc.write_all(bytes).unwrap();
            enc.finish().unwrap();
        } else {
            f.write_all(bytes).unwrap();
        }
        let mut out = Vec::new();
        for_each_record(&path, None, |line, r| {
            out.push((
                line,
                r.iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            ));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn plain_quoted_crlf_and_blank_lines() {
        let text = b"a,b,c\r\n1,\"x,y\",3\n\n4,\"say \"\"hi\"\"\",\"multi\nline\"\n5,6,7";
        for gzip in [false, true] {
            let recs = records_of(text, gzip).unwrap();
            assert_eq!(recs.len(), 4);
            assert_eq!(recs[0], (1, vec!["a".into(), "b".into(), "c".into()]));
            assert_eq!(recs[1], (2, vec!["1".into(), "x,y".into(), "3".into()]));
            assert_eq!(
                recs[2],
                (
                    4,
                    vec!["4".into(), "say \"hi\"".into(), "multi\nline".into()]
                )
            );
            // The multi-line record took lines 4 and 5, so the last one starts on line 6.
            assert_eq!(recs[3], (6, vec!["5".into(), "6".into(), "7".into()]));
        }
    }

    #[test]
    fn malformed_quotes_name_the_line() {
        let err = records_of(b"a,b\n1,x\"y\n", false).unwrap_err();
        assert!(err.to_string().contains("x.csv:2: malformed CSV"), "{err}");
        let err = records_of(b"a,b\n1,\"open\n2,3\n", false).unwrap_err();
        assert!(
            err.to_string()
                .contains(":2: malformed CSV: an unterminated"),
            "{err}"
        );
    }

    #[test]
    fn malformed_records_are_handed_over_and_reading_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        // A stray quote inside a field (line 2), and a quote opening a field that never closes
        // (line 4): each loses its own line only.
        std::fs::write(&path, b"a,b\n1,edi\"torial\n2,x\n3,\"open\n4,y\n").unwrap();
        let mut seen = Vec::new();
        for_each_line_in(Source::File(path), None, |line, rec| {
            seen.push((line, rec.map(|r| r.get(0).to_vec())));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (1, Ok(b"a".to_vec())),
                (2, Err("a quote inside an unquoted field")),
                (3, Ok(b"2".to_vec())),
                (4, Err("an unterminated quoted field")),
                (5, Ok(b"4".to_vec())),
            ]
        );
    }

    #[test]
    fn records_across_chunk_boundaries() {
        // Enough lines to span several 4 MiB chunks, with a quoted field every so often.
        let mut text = Vec::new();
        let n = 400_000;
        for i in 0..n {
            if i % 1000 == 0 {
                writeln!(text, "{i},\"q,{i}\",tail").unwrap();
            } else {
                writeln!(text, "{i},plain-{i},tail").unwrap();
            }
        }
        assert!(text.len() > 2 * CHUNK);
        let recs = records_of(&text, false).unwrap();
        assert_eq!(recs.len(), n);
        for (i, (line, f)) in recs.iter().enumerate() {
            assert_eq!(*line, i as u64 + 1);
            assert_eq!(f[0], i.to_string());
            assert_eq!(f.len(), 3);
        }
        assert_eq!(recs[1000].1[1], "q,1000");
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..100_000 {
            writeln!(enc, "{i},{},x", i * 7).unwrap();
        }
        let full = enc.finish().unwrap();
        std::fs::write(&path, &full[..full.len() / 2]).unwrap();
        let err = for_each_record(&path, None, |_, _| Ok(())).unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err}");
        assert!(err.to_string().contains("truncated or corrupt"), "{err}");
    }

    #[test]
    fn fields_are_quoted_when_needed() {
        let mut out = Vec::new();
        push_field(&mut out, b"plain");
        out.push(b',');
        push_field(&mut out, b"a,\"b\"");
        assert_eq!(out, b"plain,\"a,\"\"b\"\"\"");
    }
}
