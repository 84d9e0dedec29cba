//! The distributed sample's commands (`segue sample-plan`, `sample-map`, `sample-merge`) through
//! the real binary: mapping each file apart and merging the partials gives `segue sample`'s
//! folder byte for byte, whichever way each file is read; the merge refuses partials that are
//! not exactly one plan.

mod common;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

const DATES: &[&str] = &["2018-07-15", "2018-07-16", "2018-07-17"];
const RECORDS: &str = "2003";
const SEED: &str = "9";
/// The options every command of one sample repeats.
const OPTIONS: [&str; 5] = ["--records", RECORDS, "--seed", SEED, "--skip-bad-rows"];

/// Five log files (plain and gzip, of different sizes) in `dir/logs`; the third holds a row
/// that does not parse, and the last an incomplete session.
fn logs(dir: &Path) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).unwrap();
    for f in 0..5u32 {
        let name = if f % 2 == 0 {
            format!("log_{f}.csv")
        } else {
            format!("log_{f}.csv.gz")
        };
        write_log(
            &logs.join(&name),
            60 + 40 * f as usize,
            3 + f as u64,
            f,
            DATES,
        );
    }
    let bad = logs.join("log_2.csv");
    let mut text = std::fs::read_to_string(&bad).unwrap();
    text.push_str(
        &row("2_bad", 1, 1, 7, 1, "2018-07-16", ("True", "False"))
            .replace(",1,2018-07-16", ",x,2018-07-16"),
    );
    text.push('\n');
    std::fs::write(&bad, text).unwrap();
    let last = logs.join("log_4.csv");
    let mut text = std::fs::read_to_string(&last).unwrap();
    text.push_str(&row("4_cut", 1, 3, 8, 3, "2018-07-17", ("True", "False")));
    text.push('\n');
    std::fs::write(&last, text).unwrap();
    logs
}

/// The plan's (index, path) pairs.
fn plan(logs: &Path) -> Vec<(u64, String)> {
    let mut args = vec!["sample-plan", "--logs", logs.to_str().unwrap()];
    args.extend(OPTIONS);
    let o = segue(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["records"], 2003);
    let files = v["files"].as_array().unwrap();
    // 2,003 = 3 × 401 + 2 × 400: the first three files take one more.
    let shares: Vec<u64> = files.iter().map(|f| f["share"].as_u64().unwrap()).collect();
    assert_eq!(shares, [401, 401, 401, 400, 400]);
    files
        .iter()
        .map(|f| {
            (
                f["index"].as_u64().unwrap(),
                f["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Maps one file: from its path (`stdin` false) or piped through standard input, as an engine
/// that reads the storage itself does.
fn map(path: &str, index: u64, files: usize, out: &Path, stdin: bool) {
    let index = index.to_string();
    let files = files.to_string();
    let mut args = vec![
        "--quiet",
        "sample-map",
        "--index",
        &index,
        "--files",
        &files,
    ];
    args.extend(OPTIONS);
    if stdin {
        args.extend(["--input", "-", "--name", path]);
    } else {
        args.extend(["--input", path, "--out", out.to_str().unwrap()]);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_segue"))
        .args(&args)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if stdin {
        let bytes = std::fs::read(path).unwrap();
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || pipe.write_all(&bytes).unwrap());
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    if stdin {
        std::fs::write(out, &o.stdout).unwrap();
    } else {
        assert!(o.stdout.is_empty());
    }
}

fn merge(partials: &[&Path], logs: &Path, out: &Path, seed: &str) -> std::process::Output {
    let mut args = vec!["sample-merge", "--partials"];
    args.extend(partials.iter().map(|p| p.to_str().unwrap()));
    args.extend([
        "--logs",
        logs.to_str().unwrap(),
        "--records",
        RECORDS,
        "--seed",
        seed,
        "--skip-bad-rows",
        "--out",
        out.to_str().unwrap(),
    ]);
    segue(&args)
}

#[test]
fn map_then_merge_equals_the_embedded_sample_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs(dir.path());
    let embedded = dir.path().join("embedded");
    let mut args = vec!["sample", "--logs", logs.to_str().unwrap()];
    args.extend(OPTIONS);
    args.extend(["--out", embedded.to_str().unwrap()]);
    let o = segue(&args);
    assert!(o.status.success(), "{}", stderr(&o));

    let plan = plan(&logs);
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    // Mapped in reverse order, every other file through standard input.
    for (index, path) in plan.iter().rev() {
        let out = parts.join(format!("{index:05}.part"));
        map(path, *index, plan.len(), &out, index % 2 == 1);
    }
    let merged = dir.path().join("merged");
    let o = merge(&[&parts], &logs, &merged, SEED);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("5 files"), "{}", stdout(&o));

    let mut names: Vec<_> = std::fs::read_dir(&embedded)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    for name in names {
        let a = std::fs::read(embedded.join(&name)).unwrap();
        let b = std::fs::read(merged.join(&name)).unwrap();
        assert!(
            a == b,
            "{name:?} differs between segue sample and the merge"
        );
    }
    // The bad row and the incomplete session were counted, not dropped silently.
    let stats = std::fs::read_to_string(merged.join("stats.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&stats).unwrap();
    let bad: u64 = v["input"]["bad_rows"]
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(bad, 1, "{stats}");
    assert_eq!(v["input"]["incomplete_records"], 1, "{stats}");
}

#[test]
fn the_merge_takes_exactly_one_plan() {
    let dir = tempfile::tempdir().unwrap();
    let logs = logs(dir.path());
    let plan = plan(&logs);
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    let part = |i: usize| parts.join(format!("{i:05}.part"));
    for (index, path) in &plan {
        map(path, *index, plan.len(), &part(*index as usize), false);
    }
    let out = dir.path().join("out");
    let err = |o: std::process::Output| {
        assert!(!o.status.success());
        assert!(!out.exists(), "a refused merge wrote its output");
        stderr(&o)
    };

    // A file missing.
    let four: Vec<PathBuf> = (0..4).map(part).collect();
    let refs: Vec<&Path> = four.iter().map(PathBuf::as_path).collect();
    let e = err(merge(&refs, &logs, &out, SEED));
    assert!(e.contains("plan of 5") && e.contains("4 partials"), "{e}");
    assert!(e.contains("merged once"), "{e}");

    // A file twice.
    let copy = dir.path().join("again.part");
    std::fs::copy(part(2), &copy).unwrap();
    let e = err(merge(&[&parts, &copy], &logs, &out, SEED));
    assert!(e.contains("again.part") && e.contains("log_2.csv"), "{e}");

    // Another seed than the plan's.
    let e = err(merge(&[&parts], &logs, &out, "10"));
    assert!(e.contains("seed 9") && e.contains("10"), "{e}");

    // A damaged partial.
    let mut bytes = std::fs::read(part(3)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(part(3), bytes).unwrap();
    let e = err(merge(&[&parts], &logs, &out, SEED));
    assert!(e.contains("00003.part") && e.contains("checksum"), "{e}");

    // The map refuses what it cannot place.
    let o = segue(&[
        "sample-map",
        "--input",
        "-",
        "--index",
        "0",
        "--files",
        "5",
        "--records",
        "10",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("--name"),
        "{}",
        stderr(&o)
    );
    let o = segue(&[
        "sample-map",
        "--input",
        &plan[0].1,
        "--index",
        "5",
        "--files",
        "5",
        "--records",
        "10",
        "--out",
        dir.path().join("x.part").to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("index 5"),
        "{}",
        stderr(&o)
    );
}
