//! Shared helpers of the end-to-end tests: tiny synthetic MSSD logs and the real binary.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const HEADER: &str = "session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,context_switch,no_pause_before_play,short_pause_before_play,long_pause_before_play,hist_user_behavior_n_seekfwd,hist_user_behavior_n_seekback,hist_user_behavior_is_shuffle,hour_of_day,date,premium,context_type,hist_user_behavior_reason_start,hist_user_behavior_reason_end";

/// A small deterministic generator (SplitMix64), so test data need no RNG crate.
pub struct Gen(pub u64);

impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One log row as CSV text, with a session `s` of `len` rows at `pos`.
pub fn row(
    session: &str,
    pos: u32,
    len: u32,
    track: u64,
    skip_level: u64,
    date: &str,
    bools: (&str, &str),
) -> String {
    let (t, f) = bools;
    let flags: [bool; 4] = match skip_level {
        0 => [true, true, true, false],
        1 => [false, true, true, false],
        2 => [false, false, true, false],
        _ => [false, false, false, true],
    };
    let b = |v: bool| if v { t } else { f };
    format!(
        "{session},{pos},{len},t_{track:08x}-0000-4000-8000-{track:012x},{},{},{},{},0,1,0,0,0,0,{},{},{date},{},user_collection,fwdbtn,trackdone",
        b(flags[0]),
        b(flags[1]),
        b(flags[2]),
        b(flags[3]),
        b(pos % 2 == 0),
        pos % 24,
        b(true)
    )
}

/// Writes a log of `sessions` complete sessions (lengths 10-20) to `path`, gzip if it ends in
/// `.gz`; returns the session ids and their lengths.
pub fn write_log(
    path: &Path,
    sessions: usize,
    seed: u64,
    file_tag: u32,
    dates: &[&str],
) -> Vec<(String, u32)> {
    let mut g = Gen(seed);
    let mut text = String::from(HEADER);
    text.push('\n');
    let mut ids = Vec::new();
    for s in 0..sessions {
        let id = format!(
            "{file_tag}_{:08x}-{s:04x}-4000-8000-{:012x}",
            g.next() as u32,
            g.next() >> 16
        );
        let len = 10 + g.below(11) as u32;
        let date = dates[s % dates.len()];
        for pos in 1..=len {
            text.push_str(&row(
                &id,
                pos,
                len,
                g.below(500),
                g.below(4),
                date,
                ("True", "False"),
            ));
            text.push('\n');
        }
        ids.push((id, len));
    }
    write_bytes(path, text.as_bytes());
    ids
}

pub fn write_bytes(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    } else {
        f.write_all(bytes).unwrap();
    }
}

pub fn segue(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_segue"))
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run segue")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The real MSSD sample in ../shared, or None (with the reason printed) when it is absent.
pub fn real_sample() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/mssd/sessions/log_mini_head.csv.gz");
    if p.is_file() {
        Some(p)
    } else if std::env::var("CI").is_ok_and(|v| v == "true") {
        // CI lays ../shared beside the clone: a missing sample there is a failure, never a pass.
        panic!("{} is absent under CI=true", p.display());
    } else {
        eprintln!(
            "skipped: {} is absent (the real MSSD sample lives in ../shared)",
            p.display()
        );
        None
    }
}

/// Samples every real row (80,019 records, seed 1) into `dir/s`; None when ../shared is absent.
pub fn sample_real_rows(dir: &Path) -> Option<PathBuf> {
    let log = real_sample()?;
    let s = dir.join("s");
    let o = segue(&[
        "sample",
        "--logs",
        log.to_str().unwrap(),
        "--records",
        "80019",
        "--seed",
        "1",
        "--out",
        s.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    Some(s)
}

/// Generates a synthetic world and samples all of it with its track features into `dir/w`
/// and `dir/s`; returns (world, sample) and the synth command's stdout.
pub fn synthetic_sample(dir: &Path, synth_args: &[&str]) -> (PathBuf, PathBuf, String) {
    let (w, s) = (dir.join("w"), dir.join("s"));
    let mut a = vec!["synth"];
    a.extend_from_slice(synth_args);
    a.extend_from_slice(&["--out", w.to_str().unwrap()]);
    let o = segue(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let o = segue(&[
        "sample",
        "--logs",
        w.to_str().unwrap(),
        "--tracks",
        w.to_str().unwrap(),
        "--records",
        "1000000",
        "--seed",
        "1",
        "--out",
        s.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    (w, s, out)
}

/// Trains a small structure-A encoder (hidden 32, latent 16, `epochs` epochs) on `sample` into
/// `dir/enc` through the binary; returns the run folder.
pub fn small_encoder(dir: &Path, sample: &Path, epochs: usize) -> PathBuf {
    let cfg = dir.join("enc.toml");
    std::fs::write(
        &cfg,
        format!("[encoder]\nhidden = 32\nlatent = 16\nmax_epochs = {epochs}\n"),
    )
    .unwrap();
    let run = dir.join("enc");
    let o = segue(&[
        "encode",
        "--structure",
        "a",
        "--sample",
        sample.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    run
}
