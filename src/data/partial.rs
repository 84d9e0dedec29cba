//! A partial: the result of the per-file "map" of sampling ([`super::ingest::scan_file`]) as
//! bytes, so that the map can run anywhere (a thread of `segue sample`, or a task of a
//! distributed engine running `segue sample-map`) and the merge (`segue sample-merge`) elsewhere.
//! Decoding a partial gives back the very [`FileScan`] the map produced, so the merge of
//! partials is the merge of `segue sample`, and its output is identical byte for byte.
//!
//! Layout (little-endian): `SEGUEPRT`, u32 format version, the segue version (u32 length +
//! UTF-8), the scan options (u64 seed, u8 skip_bad_rows, u8 has_share, u64 share), the plan
//! position (u64 records, u64 files, u64 index), the file's
//! name, u64 bytes on disk, the read summary (u64 uncompressed bytes, u64 blank lines, u8 gzip,
//! u64 bytes read), the counts (fixed counters, then each map as u32 count + key/value pairs),
//! the distinct track and session keys (u64 count + u128 each), the three dictionaries and the
//! extra columns (string tables), the sampled sessions (u32 count; u64 × 2 key, u64 seq, id,
//! u32 rows, 25-byte rows, their track ids as a string table), then a u64 checksum of all
//! before it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::cache::{Cursor, Frame, put_row, put_str, put_strs};
use super::error::{DataError, Result};
use super::ids::IdSet;
use super::ingest::{Counts, FileScan, SampledSession, ScanOptions, Vocab};

const FRAME: Frame = Frame {
    magic: b"SEGUEPRT",
    version: 1,
    what: "partial",
    noun: "partial",
    remedy: "",
};

/// Where a file stands in its sample's plan: the merge checks that its partials are the whole
/// plan, each file once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanPosition {
    /// The sample's target record count.
    pub records: u64,
    /// Files in the plan.
    pub files: u64,
    /// This file's index among them (sorted by path).
    pub index: u64,
}

/// A decoded partial: the options of the map that made it, its place in the plan, and its
/// result.
#[derive(Debug)]
pub struct Partial {
    /// The segue version that wrote it (the merge accepts only its own).
    pub segue_version: String,
    pub options: ScanOptions,
    pub plan: PlanPosition,
    pub scan: FileScan,
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_map<K>(out: &mut Vec<u8>, m: &BTreeMap<K, u64>, key: impl Fn(&mut Vec<u8>, &K)) {
    out.extend_from_slice(&(m.len() as u32).to_le_bytes());
    for (k, v) in m {
        key(out, k);
        put_u64(out, *v);
    }
}

fn put_ids(out: &mut Vec<u8>, ids: &IdSet) {
    put_u64(out, ids.len() as u64);
    for k in ids {
        out.extend_from_slice(&k.to_le_bytes());
    }
}

fn path_text(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        DataError::Config(format!(
            "{}: a partial needs a file name in UTF-8",
            path.display()
        ))
    })
}

/// Serialises the result of mapping one file with `options`.
pub fn encode(scan: &FileScan, options: &ScanOptions, plan: PlanPosition) -> Result<Vec<u8>> {
    let sampled_rows: usize = scan.sampled.iter().map(|s| s.rows.len()).sum();
    let mut out =
        FRAME.start(1024 + 16 * (scan.tracks.len() + scan.sessions.len()) + 70 * sampled_rows);
    put_str(&mut out, env!("CARGO_PKG_VERSION"));
    put_u64(&mut out, options.seed);
    out.push(options.skip_bad_rows as u8);
    out.push(options.share.is_some() as u8);
    put_u64(&mut out, options.share.unwrap_or(0));
    put_u64(&mut out, plan.records);
    put_u64(&mut out, plan.files);
    put_u64(&mut out, plan.index);

    put_str(&mut out, path_text(&scan.path)?);
    put_u64(&mut out, scan.bytes_on_disk);
    put_u64(&mut out, scan.read.bytes_uncompressed);
    put_u64(&mut out, scan.read.blank_lines);
    out.push(scan.read.gzip as u8);
    put_u64(&mut out, scan.read.bytes_read);

    let c = &scan.counts;
    put_u64(&mut out, c.records);
    for v in c.skips {
        put_u64(&mut out, v);
    }
    for [n, skipped] in c.by_position {
        put_u64(&mut out, n);
        put_u64(&mut out, skipped);
    }
    put_u64(&mut out, c.inconsistent_skips);
    put_u64(&mut out, c.incomplete_records);
    put_u64(&mut out, c.blank_lines);
    put_map(&mut out, &c.session_rows, |o, k| {
        o.extend_from_slice(&k.to_le_bytes())
    });
    for m in [&c.context_types, &c.bad_rows, &c.incomplete_sessions] {
        put_map(&mut out, m, |o, k| put_str(o, k));
    }
    put_map(&mut out, &c.session_dates, |o, k| {
        o.extend_from_slice(&k.to_le_bytes())
    });

    put_ids(&mut out, &scan.tracks);
    put_ids(&mut out, &scan.sessions);
    for v in &scan.vocabs {
        put_strs(&mut out, &v.names);
    }
    put_strs(&mut out, &scan.extra_columns);

    out.extend_from_slice(&(scan.sampled.len() as u32).to_le_bytes());
    for s in &scan.sampled {
        put_u64(&mut out, s.key.0);
        put_u64(&mut out, s.key.1);
        put_u64(&mut out, s.seq);
        put_str(&mut out, &s.id);
        out.extend_from_slice(&(s.rows.len() as u32).to_le_bytes());
        for r in &s.rows {
            put_row(&mut out, r);
        }
        out.extend_from_slice(&(s.tracks.len() as u32).to_le_bytes());
        for t in &s.tracks {
            put_str(&mut out, t);
        }
    }
    Ok(FRAME.finish(out))
}

fn get_map<K: Ord>(
    c: &mut Cursor,
    key: impl Fn(&mut Cursor) -> Option<K>,
) -> Option<BTreeMap<K, u64>> {
    let n = c.u32()?;
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let k = key(c)?;
        m.insert(k, c.u64()?);
    }
    Some(m)
}

fn get_ids(c: &mut Cursor) -> Option<IdSet> {
    let n = c.u64()?;
    // Each key takes 16 bytes: a count beyond what is left is malformed.
    if n > (c.b.len() - c.pos) as u64 / 16 {
        return None;
    }
    let mut ids = IdSet::with_capacity_and_hasher(n as usize, Default::default());
    for _ in 0..n {
        ids.insert(c.u128()?);
    }
    Some(ids)
}

fn vocab(names: Vec<String>) -> Option<Vocab> {
    let mut v = Vocab::default();
    for n in &names {
        v.id(n.as_bytes())?;
    }
    // A repeated name would shift the indices the rows refer to.
    (v.names.len() == names.len()).then_some(v)
}

/// Parses and checks a serialised partial; `path` names it in errors.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Partial> {
    let bad = |problem: &str| DataError::BadCache {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
    };
    let mut c = FRAME.open(bytes, path)?;
    let body = c.b;
    let trunc = || bad("truncated or malformed content");
    let segue_version = c.string().ok_or_else(trunc)?;
    let seed = c.u64().ok_or_else(trunc)?;
    let skip_bad_rows = c.u8().ok_or_else(trunc)? != 0;
    let has_share = c.u8().ok_or_else(trunc)? != 0;
    let share = c.u64().ok_or_else(trunc)?;
    let options = ScanOptions {
        skip_bad_rows,
        seed,
        share: has_share.then_some(share),
    };
    let plan = PlanPosition {
        records: c.u64().ok_or_else(trunc)?,
        files: c.u64().ok_or_else(trunc)?,
        index: c.u64().ok_or_else(trunc)?,
    };
    let (scan, pos) = (|| -> Option<(FileScan, usize)> {
        let file = PathBuf::from(c.string()?);
        let bytes_on_disk = c.u64()?;
        let read = super::csv::ReadSummary {
            bytes_uncompressed: c.u64()?,
            blank_lines: c.u64()?,
            gzip: c.u8()? != 0,
            bytes_read: c.u64()?,
        };
        let mut counts = Counts {
            records: c.u64()?,
            ..Default::default()
        };
        for v in &mut counts.skips {
            *v = c.u64()?;
        }
        for p in &mut counts.by_position {
            *p = [c.u64()?, c.u64()?];
        }
        counts.inconsistent_skips = c.u64()?;
        counts.incomplete_records = c.u64()?;
        counts.blank_lines = c.u64()?;
        counts.session_rows = get_map(&mut c, |c| c.u32())?;
        counts.context_types = get_map(&mut c, |c| c.string())?;
        counts.bad_rows = get_map(&mut c, |c| c.string())?;
        counts.incomplete_sessions = get_map(&mut c, |c| c.string())?;
        counts.session_dates = get_map(&mut c, |c| c.i32())?;
        let tracks = get_ids(&mut c)?;
        let sessions = get_ids(&mut c)?;
        let vocabs = [
            vocab(c.strings()?)?,
            vocab(c.strings()?)?,
            vocab(c.strings()?)?,
        ];
        let extra_columns = c.strings()?;
        let n = c.u32()? as usize;
        let mut sampled = Vec::with_capacity(n.min(body.len() / 40));
        for _ in 0..n {
            let key = (c.u64()?, c.u64()?);
            let seq = c.u64()?;
            let id: Box<str> = c.string()?.into();
            let n_rows = c.u32()? as usize;
            let mut rows = Vec::with_capacity(n_rows.min(body.len() / 25));
            for _ in 0..n_rows {
                rows.push(c.row()?);
            }
            let tracks: Vec<Box<str>> = c.strings()?.into_iter().map(Into::into).collect();
            let indices_ok = tracks.len() == rows.len()
                && rows.iter().enumerate().all(|(i, r)| {
                    r.track as usize == i
                        && (r.context_type as usize) < vocabs[0].names.len()
                        && (r.reason_start as usize) < vocabs[1].names.len()
                        && (r.reason_end as usize) < vocabs[2].names.len()
                });
            if !indices_ok {
                return None;
            }
            sampled.push(SampledSession {
                key,
                seq,
                id,
                rows,
                tracks,
            });
        }
        let scan = FileScan {
            path: file,
            bytes_on_disk,
            read,
            counts,
            tracks,
            sessions,
            vocabs,
            sampled,
            share: options.share,
            extra_columns,
        };
        Some((scan, c.pos))
    })()
    .ok_or_else(trunc)?;
    if pos != body.len() {
        return Err(bad("trailing bytes after the sampled sessions"));
    }
    Ok(Partial {
        segue_version,
        options,
        plan,
        scan,
    })
}

/// Reads a partial file.
pub fn load(path: &Path) -> Result<Partial> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode(&bytes, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ingest::scan_file;

    const HEADER: &str = "session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,context_switch,no_pause_before_play,short_pause_before_play,long_pause_before_play,hist_user_behavior_n_seekfwd,hist_user_behavior_n_seekback,hist_user_behavior_is_shuffle,hour_of_day,date,premium,context_type,hist_user_behavior_reason_start,hist_user_behavior_reason_end";

    fn log() -> String {
        let mut s = String::from(HEADER);
        s.push('\n');
        for (sid, n, ctx) in [
            ("0_a", 3, "radio"),
            ("0_b", 2, "editorial_playlist"),
            ("0_c", 4, "radio"),
        ] {
            for p in 1..=n {
                s.push_str(&format!(
                    "{sid},{p},{n},t_{sid}{p},false,false,false,true,0,1,0,0,0,0,false,14,2018-07-15,true,{ctx},fwdbtn,trackdone\n"
                ));
            }
        }
        // An incomplete session (a row missing) and a blank line are counted.
        s.push_str("0_d,1,3,t_x,true,true,true,false,0,1,0,0,0,0,false,14,2018-07-16,true,radio,fwdbtn,fwdbtn\n\n");
        s
    }

    const PLAN: PlanPosition = PlanPosition {
        records: 10,
        files: 2,
        index: 1,
    };

    fn scan_tiny() -> (FileScan, ScanOptions) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log_0.csv");
        std::fs::write(&p, log()).unwrap();
        let opts = ScanOptions {
            skip_bad_rows: false,
            seed: 7,
            share: Some(5),
        };
        (scan_file(&p, &opts, None).unwrap(), opts)
    }

    /// Everything the merge reads, in a comparable form.
    fn fingerprint(s: &FileScan) -> String {
        let mut tracks: Vec<_> = s.tracks.iter().collect();
        tracks.sort();
        let mut sessions: Vec<_> = s.sessions.iter().collect();
        sessions.sort();
        let sampled: Vec<_> = s
            .sampled
            .iter()
            .map(|x| (x.key, x.seq, &x.id, &x.rows, &x.tracks))
            .collect();
        let vocabs: Vec<_> = s.vocabs.iter().map(|v| &v.names).collect();
        format!(
            "{:?} {} {:?} {:?} {tracks:?} {sessions:?} {vocabs:?} {sampled:?} {:?} {:?}",
            s.path, s.bytes_on_disk, s.read, s.counts, s.share, s.extra_columns
        )
    }

    #[test]
    fn round_trip_gives_back_the_scan() {
        let (scan, opts) = scan_tiny();
        assert!(!scan.sampled.is_empty() && scan.counts.incomplete_records == 1);
        let bytes = encode(&scan, &opts, PLAN).unwrap();
        let p = decode(&bytes, Path::new("part")).unwrap();
        assert_eq!(p.segue_version, env!("CARGO_PKG_VERSION"));
        assert_eq!((p.options.seed, p.options.share), (7, Some(5)));
        assert_eq!(p.plan, PLAN);
        assert_eq!(fingerprint(&p.scan), fingerprint(&scan));
        // Encoding is deterministic.
        assert_eq!(encode(&p.scan, &p.options, p.plan).unwrap(), bytes);
    }

    #[test]
    fn corruption_and_truncation_are_detected() {
        let (scan, opts) = scan_tiny();
        let bytes = encode(&scan, &opts, PLAN).unwrap();
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        let err = decode(&flipped, Path::new("p.part")).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let err = decode(&bytes[..bytes.len() / 2], Path::new("p.part")).unwrap_err();
        assert!(err.to_string().contains("p.part"), "{err}");
        let err = decode(b"SEGUESMPxxxxxxxxxxxxxxxxxxx", Path::new("p.part")).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
    }
}
