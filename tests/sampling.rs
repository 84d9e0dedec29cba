//! Sampling across files: even shares, whole sessions, determinism, splits, track features.

mod common;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use common::*;
use segue::data::ids::{Stream, priority};
use segue::data::{SampleConfig, Split, load_sample_dir, run_sample};

const DATES: &[&str] = &["2018-07-15"];

fn four_files(dir: &Path) -> (Vec<PathBuf>, Vec<Vec<(String, u32)>>) {
    let mut paths = Vec::new();
    let mut ids = Vec::new();
    for f in 0..4u32 {
        // Files of different sizes, plain and gzip: the share must not depend on either.
        let p = dir.join(if f % 2 == 0 {
            format!("log_{f}.csv")
        } else {
            format!("log_{f}.csv.gz")
        });
        ids.push(write_log(
            &p,
            150 + 100 * f as usize,
            11 + f as u64,
            f,
            DATES,
        ));
        paths.push(p);
    }
    (paths, ids)
}

fn config(logs: Vec<PathBuf>, records: u64, seed: u64) -> SampleConfig {
    SampleConfig {
        logs,
        records,
        seed,
        ..Default::default()
    }
}

#[test]
fn shares_are_even_to_within_one_session_and_sessions_are_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, ids) = four_files(dir.path());
    let report = run_sample(
        &config(vec![dir.path().to_path_buf()], 4_001, 5),
        &dir.path().join("out"),
        false,
        false,
    )
    .unwrap();
    assert_eq!(report.files.len(), 4);
    for (i, f) in report.files.iter().enumerate() {
        // 4,001 = 1,001 + 3 × 1,000: the remainder goes to the first file.
        assert_eq!(f.share, if i == 0 { 1001 } else { 1000 });
        // At least the share, and less than one more session (20 rows at most) above it.
        assert!(
            f.sampled_records >= f.share && f.sampled_records < f.share + 20,
            "{f:?}"
        );
        assert_eq!(f.shortfall, 0);
    }
    let s = load_sample_dir(&dir.path().join("out")).unwrap();
    let lengths: HashMap<&str, u32> = ids
        .iter()
        .flatten()
        .map(|(id, l)| (id.as_str(), *l))
        .collect();
    let mut seen = HashSet::new();
    for sess in &s.sample.sessions {
        assert!(seen.insert(sess.id.clone()), "session {} twice", sess.id);
        // Whole: every row of the session, positions 1..n.
        assert_eq!(sess.len, lengths[sess.id.as_str()]);
        let pos: Vec<u16> = s.sample.rows_of(sess).iter().map(|r| r.position).collect();
        assert_eq!(pos, (1..=sess.len as u16).collect::<Vec<_>>());
        // And from the file it claims.
        let file_tag: u32 = sess.id.split('_').next().unwrap().parse().unwrap();
        assert_eq!(
            s.manifest.log_files[sess.file as usize],
            paths[file_tag as usize]
        );
    }
}

#[test]
fn the_streaming_sample_is_the_priority_prefix() {
    // Reference: sort a file's sessions by seeded priority and take the shortest prefix whose
    // records reach the share. The one-pass heap must pick exactly those sessions.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log.csv");
    let ids = write_log(&p, 400, 99, 0, DATES);
    for seed in [1u64, 2, 3] {
        for records in [1u64, 15, 700, 3_000, 100_000] {
            let out = dir.path().join(format!("o{seed}_{records}"));
            let report =
                run_sample(&config(vec![p.clone()], records, seed), &out, false, false).unwrap();
            let mut order = ids.clone();
            order.sort_by_key(|(id, _)| priority(seed, Stream::Sample, id.as_bytes()));
            let mut want = HashSet::new();
            let mut total = 0u64;
            for (id, len) in &order {
                if total >= records {
                    break;
                }
                total += *len as u64;
                want.insert(id.clone());
            }
            let got: HashSet<String> = load_sample_dir(&out)
                .unwrap()
                .sample
                .sessions
                .iter()
                .map(|s| s.id.clone())
                .collect();
            assert_eq!(got, want, "seed {seed} records {records}");
            assert_eq!(report.files[0].sampled_records, total);
        }
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_sample() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = four_files(dir.path());
    let run = |name: &str, seed: u64| {
        let out = dir.path().join(name);
        run_sample(&config(paths.clone(), 2_000, seed), &out, false, false).unwrap();
        [
            "log_sample.csv.gz",
            "sample.bin",
            "splits.csv",
            "stats.json",
        ]
        .map(|f| std::fs::read(out.join(f)).unwrap())
    };
    let a = run("a", 42);
    let b = run("b", 42);
    let c = run("c", 43);
    assert_eq!(a, b);
    assert_ne!(a[1], c[1]);
    // One thread or two: the same result.
    let one = dir.path().join("one");
    let mut cfg = config(paths.clone(), 2_000, 42);
    cfg.threads = 1;
    run_sample(&cfg, &one, false, false).unwrap();
    assert_eq!(std::fs::read(one.join("sample.bin")).unwrap(), a[1]);
}

#[test]
fn splits_partition_sessions_and_follow_dates() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log.csv");
    write_log(
        &p,
        600,
        7,
        0,
        &["2018-07-17", "2018-07-15", "2018-07-16", "2018-07-18"],
    );
    let out = dir.path().join("out");
    let report = run_sample(&config(vec![p], 1_000_000, 8), &out, false, false).unwrap();
    assert_eq!(report.split_rule, segue::data::SplitRule::Chronological);
    let s = load_sample_dir(&out).unwrap().sample;
    assert_eq!(s.sessions.len(), 600);
    let n = |sp| s.sessions_in(sp).count();
    assert_eq!(
        (n(Split::Train), n(Split::Validation), n(Split::Test)),
        (480, 60, 60)
    );
    let latest_train = s.sessions_in(Split::Train).map(|x| x.date).max().unwrap();
    let earliest_test = s.sessions_in(Split::Test).map(|x| x.date).min().unwrap();
    assert!(latest_train <= earliest_test);
    // splits.csv says the same as the cache.
    let text = std::fs::read_to_string(out.join("splits.csv")).unwrap();
    let from_csv: HashMap<&str, &str> = text
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').unwrap())
        .collect();
    for x in &s.sessions {
        assert_eq!(from_csv[x.id.as_str()], x.split.name());
    }

    // One date only: a seeded split, different for another seed.
    let q = dir.path().join("one_day.csv");
    write_log(&q, 300, 7, 0, DATES);
    let split_of = |seed: u64, name: &str| {
        let o = dir.path().join(name);
        let r = run_sample(&config(vec![q.clone()], 1_000_000, seed), &o, false, false).unwrap();
        assert_eq!(r.split_rule, segue::data::SplitRule::Seeded);
        std::fs::read_to_string(o.join("splits.csv")).unwrap()
    };
    assert_eq!(split_of(1, "x"), split_of(1, "y"));
    assert_ne!(split_of(1, "x2"), split_of(2, "z"));
}

#[test]
fn track_features_of_sampled_tracks_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("log.csv");
    write_log(&p, 50, 3, 0, DATES);
    // Features for tracks 0..400 in two files with their columns in different orders; tracks
    // 400..500 have none.
    let id = |t: u64| format!("t_{t:08x}-0000-4000-8000-{t:012x}");
    let mut a = String::from("track_id,energy,mode\n");
    let mut b = String::from("mode,track_id,energy\n");
    for t in 0..200u64 {
        a.push_str(&format!("{},0.{t},major\n", id(t)));
    }
    for t in 200..400u64 {
        b.push_str(&format!("minor,{},0.{t}\n", id(t)));
    }
    let tf = dir.path().join("tf");
    std::fs::create_dir(&tf).unwrap();
    write_bytes(&tf.join("tf_0.csv"), a.as_bytes());
    write_bytes(&tf.join("tf_1.csv.gz"), b.as_bytes());
    let out = dir.path().join("out");
    let mut cfg = config(vec![p], 300, 4);
    cfg.tracks = vec![tf];
    let report = run_sample(&cfg, &out, false, false).unwrap();
    let s = load_sample_dir(&out).unwrap().sample;
    let tfr = report.track_features.unwrap();
    let with_features = s
        .tracks
        .iter()
        .filter(|t| u64::from_str_radix(&t[t.len() - 12..], 16).unwrap() < 400)
        .count();
    assert_eq!(tfr.kept as usize, with_features);
    assert_eq!((tfr.kept + tfr.missing) as usize, s.tracks.len());
    assert_eq!(tfr.rows, 400);
    // The written file: first file's column order, one row per kept track.
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(out.join("tf_sample.csv.gz")).unwrap(),
        ),
        &mut text,
    )
    .unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("track_id,energy,mode"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), with_features);
    let sampled: HashSet<&str> = s.tracks.iter().map(String::as_str).collect();
    for r in rows {
        let f: Vec<&str> = r.split(',').collect();
        assert!(sampled.contains(f[0]));
        let t = u64::from_str_radix(&f[0][f[0].len() - 12..], 16).unwrap();
        assert_eq!(f[2], if t < 200 { "major" } else { "minor" });
    }
}
