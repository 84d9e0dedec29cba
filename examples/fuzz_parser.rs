//! A long fuzz run of the log reader on stable Rust (bench/fuzz/run.sh): seeded structured and
//! byte-level mutations of a valid MSSD log, each read twice by the real reader (strict and
//! with `--skip-bad-rows`), on every core. A run counts executions, and as crashes every
//! panic and every broken invariant: an error that does not name the file, an error message
//! over 2,000 bytes, a strict read that reports skipped rows, or (for quote-free input) a
//! lenient read whose header, records, skipped rows and blank lines do not add up to the lines
//! of the input. Crashing inputs are written to the output folder.
//!
//! `cargo run --release --example fuzz_parser -- INPUTS SEED [THREADS] [OUT_DIR]` (two
//! executions per input)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use segue::data::csv::Source;
use segue::data::ingest::{ScanOptions, scan_source};
use segue::rng::Rng;

const HEADER: &str = "session_id,session_position,session_length,track_id_clean,skip_1,skip_2,skip_3,not_skipped,context_switch,no_pause_before_play,short_pause_before_play,long_pause_before_play,hist_user_behavior_n_seekfwd,hist_user_behavior_n_seekback,hist_user_behavior_is_shuffle,hour_of_day,date,premium,context_type,hist_user_behavior_reason_start,hist_user_behavior_reason_end";

/// A valid log of `sessions` sessions of 3-8 rows.
fn seed_log(rng: &mut Rng, sessions: usize) -> Vec<u8> {
    let mut t = format!("{HEADER}\n");
    for s in 0..sessions {
        let len = 3 + rng.below(6);
        for p in 1..=len {
            let skip = rng.below(4);
            let b = |v: bool| if v { "true" } else { "false" };
            t.push_str(&format!(
                "0_{s:04x},{p},{len},t_{:06x},{},{},{},{},0,1,0,0,0,0,{},{},2018-07-{:02},{},user_collection,fwdbtn,trackdone\n",
                rng.below(1 << 20),
                b(skip == 0),
                b(skip <= 1),
                b(skip <= 2),
                b(skip == 3),
                b(rng.below(2) == 0),
                rng.below(24),
                1 + rng.below(28),
                b(true)
            ));
        }
    }
    t.into_bytes()
}

const TOKENS: &[&[u8]] = &[
    b"\"",
    b",",
    b"\n",
    b"\r\n",
    b"\r",
    b"\0",
    b"\xFF\xFE",
    "é".as_bytes(),
    b"\"\"",
    b"-1",
    b"99999999999999999999",
    b"2018-02-30",
    b"TRUE",
    b"",
    b"\xEF\xBB\xBF",
];

/// 1-4 mutations of `base`.
fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut t = base.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(t.len() as u64 + 1) as usize;
        match rng.below(7) {
            0 => {
                let tok = TOKENS[rng.below(TOKENS.len() as u64) as usize];
                t.splice(at..at, tok.iter().copied());
            }
            1 => {
                let end = (at + 1 + rng.below(40) as usize).min(t.len());
                t.drain(at.min(end)..end);
            }
            2 if at < t.len() => t[at] = rng.below(256) as u8,
            3 => {
                let n = 1 + rng.below(8) as usize;
                let bytes: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
                t.splice(at..at, bytes);
            }
            4 => {
                // A long multi-byte value in place of the field at `at`.
                let v = format!("x{}", "é".repeat(20 + rng.below(60) as usize));
                t.splice(at..at, v.into_bytes());
            }
            5 => {
                // Duplicate a stretch (repeated rows, repeated header fields).
                let end = (at + rng.below(200) as usize).min(t.len());
                let dup = t[at..end].to_vec();
                t.splice(at..at, dup);
            }
            _ => t.truncate(at),
        }
    }
    t
}

fn lines_in(bytes: &[u8]) -> u64 {
    let n = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    n + (!bytes.is_empty() && !bytes.ends_with(b"\n")) as u64
}

/// Reads `bytes` both ways; `Err(why)` when an invariant breaks.
fn check(bytes: &[u8]) -> Result<(), String> {
    let name = PathBuf::from("fuzz.csv");
    for skip in [false, true] {
        let source = Source::Bytes {
            name: name.clone(),
            bytes: bytes.to_vec(),
        };
        let opts = ScanOptions {
            skip_bad_rows: skip,
            seed: 1,
            share: Some(20),
        };
        match scan_source(source, &opts, None) {
            Ok(scan) => {
                let c = &scan.counts;
                let bad: u64 = c.bad_rows.values().sum();
                if !skip && bad > 0 {
                    return Err("a strict read skipped rows".into());
                }
                if skip && !bytes.contains(&b'"') {
                    let seen = 1 + c.records + bad + c.blank_lines;
                    if seen != lines_in(bytes) {
                        return Err(format!(
                            "{seen} lines accounted for, {} in the input",
                            lines_in(bytes)
                        ));
                    }
                }
            }
            Err(e) => {
                let msg = e.to_string();
                if !msg.starts_with("fuzz.csv") {
                    return Err(format!("error without the file name: {msg}"));
                }
                if msg.len() > 2000 {
                    return Err(format!("error of {} bytes", msg.len()));
                }
            }
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: fuzz_parser INPUTS SEED [THREADS] [OUT_DIR]";
    let inputs: u64 = args.first().and_then(|a| a.parse().ok()).expect(usage);
    let seed: u64 = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let threads: u64 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64));
    let out = PathBuf::from(args.get(3).cloned().unwrap_or_else(|| "runs/fuzz".into()));
    // Panics are counted, not printed one by one.
    std::panic::set_hook(Box::new(|_| {}));
    let done = AtomicU64::new(0);
    let crashes = AtomicU64::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for k in 0..threads {
            let (done, crashes, out) = (&done, &crashes, &out);
            s.spawn(move || {
                let mut rng = Rng::stream(seed, &[k]);
                let corpus: Vec<Vec<u8>> = (0..8).map(|i| seed_log(&mut rng, 2 + i * 3)).collect();
                let mine = inputs / threads + (k < inputs % threads) as u64;
                for i in 0..mine {
                    let base = &corpus[rng.below(corpus.len() as u64) as usize];
                    let input = mutate(&mut rng, base);
                    let verdict = catch_unwind(AssertUnwindSafe(|| check(&input)))
                        .unwrap_or_else(|_| Err("panic".into()));
                    if let Err(why) = verdict {
                        let n = crashes.fetch_add(1, Ordering::Relaxed);
                        eprintln!("crash {n} (thread {k}, case {i}): {why}");
                        if n < 100 {
                            let _ = std::fs::create_dir_all(out);
                            let _ = std::fs::write(out.join(format!("crash-{k}-{i}.csv")), &input);
                        }
                    }
                    // Each case reads its input twice (strict, then skipping bad rows).
                    done.fetch_add(2, Ordering::Relaxed);
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{} executions (inputs {}, each read strict and lenient) in {:.1} s on {threads} threads: {:.0} exec/s, {} crashes",
        n,
        n / 2,
        secs,
        n as f64 / secs,
        crashes.load(Ordering::Relaxed)
    );
    if crashes.load(Ordering::Relaxed) > 0 {
        std::process::exit(1);
    }
}
