//! The sample's binary cache (`sample.bin`): every session and row with its dictionaries, in a
//! little-endian layout that later stages load in a fraction of a second, guarded by a magic
//! number, a format version and a checksum.
//!
//! Layout: `SEGUESMP`, u32 version, four string tables (tracks, context types, start reasons,
//! end reasons: u32 count, then u32 length + UTF-8 bytes each), the sessions (u32 count; id,
//! u32 first row, u32 rows, i32 date, u8 split, u32 file), the rows (u32 count; 25 bytes each:
//! u32 track, u16 position, u16 length, u16 flags, u16 seekfwd, u16 seekback, u8 hour, i32 date,
//! u16 context type, u16 start reason, u16 end reason), then a u64 checksum of all before it.

use std::path::Path;

use super::error::{DataError, Result};
use super::sample::{Sample, Session, Split};
use super::schema::{Flags, Row};

const FRAME: Frame = Frame {
    magic: b"SEGUESMP",
    version: 1,
    what: "sample cache",
    noun: "cache",
    remedy: "; re-run `segue sample`",
};

/// The frame of segue's binary files (`sample.bin`, partials): an 8-byte magic number, a u32
/// format version, the body, then a u64 [`checksum`] of all before it.
pub(crate) struct Frame {
    pub(crate) magic: &'static [u8; 8],
    pub(crate) version: u32,
    /// What the file is, for a wrong magic number ("not a segue {what}").
    pub(crate) what: &'static str,
    /// Its short name in the other errors.
    pub(crate) noun: &'static str,
    /// Appended to a checksum or version error: how to get a good file.
    pub(crate) remedy: &'static str,
}

impl Frame {
    /// A buffer holding the magic number and the version.
    pub(crate) fn start(&self, capacity: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(self.magic);
        out.extend_from_slice(&self.version.to_le_bytes());
        out
    }

    /// Appends the checksum.
    pub(crate) fn finish(&self, mut out: Vec<u8>) -> Vec<u8> {
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Checks the magic number, the checksum and the version; returns a cursor over the body
    /// (the checksum excluded), placed after the version. `path` names the file in errors.
    pub(crate) fn open<'a>(&self, bytes: &'a [u8], path: &Path) -> Result<Cursor<'a>> {
        let bad = |problem: String| DataError::BadCache {
            path: path.to_path_buf(),
            problem,
        };
        if bytes.len() < 20 || &bytes[..8] != self.magic {
            return Err(bad(format!("not a segue {} (bad magic number)", self.what)));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if checksum(body).to_le_bytes() != sum {
            return Err(bad(format!(
                "checksum mismatch: the {} is truncated or corrupt{}",
                self.noun, self.remedy
            )));
        }
        let mut c = Cursor::new(body, 8);
        let version = c.u32().ok_or_else(|| bad("truncated header".into()))?;
        if version != self.version {
            return Err(bad(format!(
                "{} format version {version}, this segue reads version {}{}",
                self.noun, self.version, self.remedy
            )));
        }
        Ok(c)
    }
}

/// A fast 64-bit checksum over 8-byte words (not cryptographic; it catches truncation and
/// corruption).
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0x243F_6A88_85A3_08D3 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let v = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        h = (h ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
    for &b in words.remainder() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    super::ids::splitmix64(h)
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn put_strs(out: &mut Vec<u8>, v: &[String]) {
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for s in v {
        put_str(out, s);
    }
}

/// Serialises a sample.
pub fn encode(s: &Sample) -> Vec<u8> {
    let mut out = FRAME.start(64 + s.rows.len() * 25 + s.tracks.len() * 44);
    for t in [
        &s.tracks,
        &s.context_types,
        &s.reasons_start,
        &s.reasons_end,
    ] {
        put_strs(&mut out, t);
    }
    out.extend_from_slice(&(s.sessions.len() as u32).to_le_bytes());
    for x in &s.sessions {
        put_str(&mut out, &x.id);
        out.extend_from_slice(&x.start.to_le_bytes());
        out.extend_from_slice(&x.len.to_le_bytes());
        out.extend_from_slice(&x.date.to_le_bytes());
        out.push(x.split as u8);
        out.extend_from_slice(&x.file.to_le_bytes());
    }
    out.extend_from_slice(&(s.rows.len() as u32).to_le_bytes());
    for r in &s.rows {
        put_row(&mut out, r);
    }
    FRAME.finish(out)
}

/// Appends one row's 25 bytes.
pub(crate) fn put_row(out: &mut Vec<u8>, r: &Row) {
    out.extend_from_slice(&r.track.to_le_bytes());
    out.extend_from_slice(&r.position.to_le_bytes());
    out.extend_from_slice(&r.length.to_le_bytes());
    out.extend_from_slice(&r.flags.0.to_le_bytes());
    out.extend_from_slice(&r.n_seekfwd.to_le_bytes());
    out.extend_from_slice(&r.n_seekback.to_le_bytes());
    out.push(r.hour);
    out.extend_from_slice(&r.date.to_le_bytes());
    out.extend_from_slice(&r.context_type.to_le_bytes());
    out.extend_from_slice(&r.reason_start.to_le_bytes());
    out.extend_from_slice(&r.reason_end.to_le_bytes());
}

/// A reader over a serialised buffer; every read is `None` past the end.
pub(crate) struct Cursor<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &'a [u8], pos: usize) -> Self {
        Cursor { b, pos }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.arr::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.arr()?))
    }
    pub(crate) fn i32(&mut self) -> Option<i32> {
        Some(i32::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.arr()?))
    }
    /// One row written by [`put_row`].
    pub(crate) fn row(&mut self) -> Option<Row> {
        Some(Row {
            track: self.u32()?,
            position: self.u16()?,
            length: self.u16()?,
            flags: Flags(self.u16()?),
            n_seekfwd: self.u16()?,
            n_seekback: self.u16()?,
            hour: self.u8()?,
            date: self.i32()?,
            context_type: self.u16()?,
            reason_start: self.u16()?,
            reason_end: self.u16()?,
        })
    }
    pub(crate) fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    pub(crate) fn strings(&mut self) -> Option<Vec<String>> {
        let n = self.u32()? as usize;
        let mut v = Vec::with_capacity(n.min(self.b.len() / 4));
        for _ in 0..n {
            v.push(self.string()?);
        }
        Some(v)
    }
}

/// Parses and checks a serialised sample.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Sample> {
    let bad = |problem: &str| DataError::BadCache {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
    };
    let mut c = FRAME.open(bytes, path)?;
    let body = c.b;
    let trunc = || bad("truncated or malformed content");
    let mut s = Sample {
        tracks: c.strings().ok_or_else(trunc)?,
        context_types: c.strings().ok_or_else(trunc)?,
        reasons_start: c.strings().ok_or_else(trunc)?,
        reasons_end: c.strings().ok_or_else(trunc)?,
        ..Default::default()
    };
    let n_sessions = c.u32().ok_or_else(trunc)? as usize;
    s.sessions.reserve(n_sessions.min(body.len() / 17));
    for _ in 0..n_sessions {
        s.sessions.push(Session {
            id: c.string().ok_or_else(trunc)?,
            start: c.u32().ok_or_else(trunc)?,
            len: c.u32().ok_or_else(trunc)?,
            date: c.i32().ok_or_else(trunc)?,
            split: Split::from_u8(c.u8().ok_or_else(trunc)?).ok_or_else(|| bad("unknown split"))?,
            file: c.u32().ok_or_else(trunc)?,
        });
    }
    let n_rows = c.u32().ok_or_else(trunc)? as usize;
    s.rows.reserve(n_rows.min(body.len() / 25));
    for _ in 0..n_rows {
        s.rows.push(c.row().ok_or_else(trunc)?);
    }
    if c.pos != body.len() {
        return Err(bad("trailing bytes after the rows"));
    }
    let rows_ok = s.rows.iter().all(|r| {
        (r.track as usize) < s.tracks.len()
            && (r.context_type as usize) < s.context_types.len()
            && (r.reason_start as usize) < s.reasons_start.len()
            && (r.reason_end as usize) < s.reasons_end.len()
    });
    let sessions_ok = s
        .sessions
        .iter()
        .all(|x| (x.start as u64 + x.len as u64) <= s.rows.len() as u64);
    if !rows_ok || !sessions_ok {
        return Err(bad("an index points outside its table"));
    }
    Ok(s)
}

/// Loads `sample.bin`.
pub fn load(path: &Path) -> Result<Sample> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Sample {
        let row = |track, position| Row {
            track,
            position,
            length: 2,
            flags: Flags(Flags::NOT_SKIPPED | Flags::PREMIUM),
            n_seekfwd: 1,
            n_seekback: 0,
            hour: 16,
            date: 17_727,
            context_type: 0,
            reason_start: 0,
            reason_end: 0,
        };
        Sample {
            tracks: vec!["t_a".into(), "t_b".into()],
            context_types: vec!["radio".into()],
            reasons_start: vec!["fwdbtn".into()],
            reasons_end: vec!["trackdone".into()],
            sessions: vec![Session {
                id: "0_s".into(),
                start: 0,
                len: 2,
                date: 17_727,
                split: Split::Test,
                file: 0,
            }],
            rows: vec![row(0, 1), row(1, 2)],
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let s = tiny();
        let bytes = encode(&s);
        assert_eq!(decode(&bytes, Path::new("x")).unwrap(), s);
    }

    #[test]
    fn corruption_and_truncation_are_detected() {
        let bytes = encode(&tiny());
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        let err = decode(&flipped, Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let err = decode(&bytes[..bytes.len() - 3], Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("x:"), "{err}");
        let err = decode(b"hello world, not a cache", Path::new("x")).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
    }
}
