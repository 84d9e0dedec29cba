//! Scores on logs a run never saw: a synthetic world written as four days, a pipeline trained
//! on the first two (`[evaluation] logs` naming the third), then `segue eval --logs` and
//! `segue skips --logs` on the later days, and the refusals of logs that cannot serve.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn run_config(days: &[PathBuf], world: &Path, later: &Path) -> String {
    let list = |p: &[&Path]| {
        let q: Vec<String> = p
            .iter()
            .map(|p| format!("{:?}", p.to_str().unwrap()))
            .collect();
        format!("[{}]", q.join(", "))
    };
    format!(
        "[sample]\nlogs = {}\ntracks = {}\nrecords = 1000000\nseed = 1\n\
         split = {{ train = 0.5, validation = 0.05, test = 0.45 }}\n\n\
         [encoder]\nstructure = \"a\"\nhidden = 32\nlatent = 16\nmax_epochs = 3\n\n\
         [agent]\nhidden = 32\nbatch = 64\nbuffer = 20000\nenvs = 16\nrounds = 4\n\
         updates_per_step = 2\nwarmup = 100\ncandidates = 4\neval_every = 2\neval_episodes = 20\n\n\
         [simulator]\nepisodes = 40\n\n\
         [pipeline]\nalgos = [\"td3\"]\nseeds = [1]\neval_seeds = [1, 2, 3, 4, 5]\neval_episodes = 200\n\n\
         [evaluation]\nlogs = {}\n",
        list(&[&days[0], &days[1]]),
        list(&[world]),
        list(&[later]),
    )
}

fn eval(extra: &[&str]) -> Value {
    let mut a = vec!["eval", "--json"];
    a.extend_from_slice(extra);
    let o = segue(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

/// (mean, ±95%) of every baseline row.
fn baselines(r: &Value) -> Vec<(String, f64, f64)> {
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["learned"] == false && x["reference"] == false)
        .map(|x| {
            let f = |k: &str| x[k].as_f64().unwrap();
            (
                x["policy"].as_str().unwrap().to_owned(),
                f("mean"),
                f("ci95"),
            )
        })
        .collect()
}

/// The first line of a failed command's error.
fn refused(args: &[&str]) -> String {
    let o = segue(args);
    assert!(!o.status.success(), "{args:?} should fail");
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    e
}

/// Four days of one world (with enough tracks that later days play some the first two never
/// did), and a pipeline trained on days 1-2 whose `[evaluation] logs` names day 3.
struct Days {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    days: Vec<PathBuf>,
    out: PathBuf,
}

fn days_and_run() -> Days {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    // Four days of one world, with enough tracks that later days play some the first two never
    // did.
    let w = d.join("w");
    let o = segue(&[
        "synth",
        "--sessions",
        "4000",
        "--tracks",
        "3000",
        "--files",
        "4",
        "--seed",
        "5",
        "--reference-users",
        "0",
        "--out",
        w.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut days: Vec<PathBuf> = std::fs::read_dir(&w)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("log_"))
        .collect();
    days.sort();
    assert_eq!(days.len(), 4);

    // The pipeline trains on days 1-2 and reports on day 3 too.
    let cfg = d.join("run.toml");
    std::fs::write(&cfg, run_config(&days, &w, &days[2])).unwrap();
    let out = d.join("run");
    let o = segue(&[
        "run",
        "-c",
        cfg.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("on the logs the agents never saw"),
        "{}",
        stdout(&o)
    );
    Days {
        _dir: dir,
        dir: d,
        days,
        out,
    }
}

/// The pipeline's report on day 3: its coverage, and the section in `report.md`.
fn pipeline_report(f: &Days) -> Value {
    let out = &f.out;
    let p: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pipeline.json")).unwrap()).unwrap();
    let on_day3 = &p["eval_logs"];
    let c = &on_day3["logs"];
    // Day 3 holds 1,000 complete sessions, none of them in the sample; some of its tracks are new.
    assert_eq!(c["sessions"], 1000, "{c}");
    assert_eq!(c["already_in_sample"], 0);
    let unknown = c["unknown_tracks"].as_u64().unwrap();
    assert!(
        unknown > 0 && unknown < c["tracks"].as_u64().unwrap(),
        "{c}"
    );
    assert!(c["unknown_plays"].as_u64().unwrap() >= unknown);
    assert!(p["eval"]["logs"].is_null());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Scores on logs the agents never saw"));
    p
}

#[test]
fn runs_are_scored_on_later_days_they_never_saw() {
    let f = days_and_run();
    let (d, days, out) = (&f.dir, &f.days, &f.out);
    let p = pipeline_report(&f);
    let on_day3 = &p["eval_logs"];
    // The same world on other days: every baseline's score on day 3, and on day 4 through
    // `segue eval --logs`, agrees with its score on the sample's held-out split within the
    // two intervals.
    let run = out.join("agents").join("td3-1");
    let run = run.to_str().unwrap();
    let seeds = ["--seeds", "1,2,3,4,5", "--episodes", "200"];
    let day4 = eval(
        &[
            &["--runs", run, "--logs", days[3].to_str().unwrap()][..],
            &seeds,
        ]
        .concat(),
    );
    assert_eq!(day4["logs"]["sessions"], 1000);
    let held_out = baselines(&p["eval"]);
    assert!(held_out.len() >= 5, "{held_out:?}");
    for later in [baselines(on_day3), baselines(&day4)] {
        assert_eq!(later.len(), held_out.len());
        for ((name, a, ca), (_, b, cb)) in held_out.iter().zip(&later) {
            assert!(
                (a - b).abs() <= ca + cb,
                "{name}: {a} ± {ca} held out, {b} ± {cb} later"
            );
        }
    }
    // The policies choose from the run's catalogue only: in the training simulator (the same
    // in both) each scores as it did on the sample.
    for (x, y) in p["eval"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(day4["rows"].as_array().unwrap())
    {
        assert_eq!(x["policy"], y["policy"]);
        assert_eq!(x["train_sim_mean"], y["train_sim_mean"], "{}", x["policy"]);
    }

    // The sample folder itself among the logs: its sessions are left out, and counted.
    let sample = out.join("sample");
    let both = eval(
        &[
            &[
                "--runs",
                run,
                "--no-baselines",
                "--logs",
                sample.to_str().unwrap(),
            ][..],
            &[days[3].to_str().unwrap(), "--seeds", "1", "--episodes", "5"],
        ]
        .concat(),
    );
    assert_eq!(both["logs"]["sessions"], 1000);
    assert_eq!(both["logs"]["already_in_sample"], 2000);

    skips_on_day_4(&out.join("sample"), &days[3]);
    refusals(d, run, &out.join("sample"), &days[3]);
}

/// The skip models, fitted on the sample's training split, on day 4.
fn skips_on_day_4(sample: &Path, day4: &Path) {
    let o = segue(&[
        "skips",
        "--sample",
        sample.to_str().unwrap(),
        "--logs",
        day4.to_str().unwrap(),
        "--resamples",
        "100",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(s["on_logs"]["coverage"]["sessions"], 1000);
    assert_eq!(s["on_logs"]["sessions"], 1000);
    assert_eq!(
        s["on_logs"]["rows"].as_array().unwrap().len(),
        s["rows"].as_array().unwrap().len()
    );
    assert!(s["coverage"].is_null());
}

/// Refused with one line naming the file: logs without a complete session, logs that are
/// all in the sample, and a run scored on a sample it was not trained on.
fn refusals(d: &Path, run: &str, sample: &Path, day4: &Path) {
    let broken = d.join("broken.csv");
    let text = std::fs::read_to_string(day4).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    // The first row of a session alone: its length says there is more.
    let row = lines
        .find(|l| l.split(',').nth(2).is_some_and(|len| len != "1"))
        .unwrap();
    std::fs::write(&broken, format!("{header}\n{row}\n")).unwrap();
    let e = refused(&["eval", "--runs", run, "--logs", broken.to_str().unwrap()]);
    assert!(
        e.contains("broken.csv") && e.contains("no complete session"),
        "{e}"
    );
    let e = refused(&[
        "skips",
        "--sample",
        sample.to_str().unwrap(),
        "--logs",
        broken.to_str().unwrap(),
    ]);
    assert!(
        e.contains("broken.csv") && e.contains("no complete session"),
        "{e}"
    );
    let e = refused(&["eval", "--runs", run, "--logs", sample.to_str().unwrap()]);
    assert!(e.contains("already in the sample"), "{e}");
    let other = d.join("other");
    let o = segue(&[
        "sample",
        "--logs",
        day4.to_str().unwrap(),
        "--records",
        "1000000",
        "--seed",
        "1",
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = refused(&["eval", "--runs", run, "--sample", other.to_str().unwrap()]);
    assert!(e.contains("td3-1") && e.contains("was trained on"), "{e}");
    // As logs, that sample and the day it was drawn from hold the same sessions: each is kept
    // once.
    let (o4, other) = (day4.to_str().unwrap(), other.to_str().unwrap());
    let both = eval(&[
        "--runs",
        run,
        "--no-baselines",
        "--logs",
        o4,
        other,
        "--seeds",
        "1",
        "--episodes",
        "5",
    ]);
    assert_eq!(both["logs"]["sessions"], 1000);
    assert_eq!(both["logs"]["already_in_sample"], 1000);
}
