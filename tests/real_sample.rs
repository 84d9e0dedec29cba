//! End-to-end checks on the real MSSD rows in ../shared (skipped with a printed reason when the
//! folder is absent).

mod common;
use common::*;

#[test]
fn stats_match_the_published_figures() {
    let Some(log) = real_sample() else { return };
    let out = segue(&["stats", log.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["records"], 80_019);
    assert_eq!(v["sessions"], 4_757);
    assert_eq!(v["tracks"], 29_619);
    let rate = |k: &str| v["skip_rates"][k].as_f64().unwrap();
    assert_eq!(format!("{:.4}", rate("not_skipped")), "0.3302");
    assert_eq!(format!("{:.4}", rate("skip_2")), "0.5202");
    // Every session of the head of log_0 is complete.
    assert_eq!(v["incomplete_records"], 0);
    let lengths: u64 = v["session_lengths"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(lengths, 4_757);
}

#[test]
fn sample_of_the_real_log_is_whole_sessions_and_reads_back() {
    let Some(log) = real_sample() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("s");
    let out = segue(&[
        "sample",
        "--logs",
        log.to_str().unwrap(),
        "--records",
        "20000",
        "--seed",
        "3",
        "--out",
        out_dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let got = report["sample"]["records"].as_u64().unwrap();
    assert!((20_000..20_020).contains(&got), "{got}");

    // The written CSV reads back with the same records and sessions (via `segue stats`).
    let csv = out_dir.join("log_sample.csv.gz");
    let back = segue(&["stats", csv.to_str().unwrap(), "--json"]);
    assert!(back.status.success(), "{}", stderr(&back));
    let b: serde_json::Value = serde_json::from_str(&stdout(&back)).unwrap();
    assert_eq!(b["records"], report["sample"]["records"]);
    assert_eq!(b["sessions"], report["sample"]["sessions"]);
    assert_eq!(b["tracks"], report["sample"]["tracks"]);
    assert_eq!(b["incomplete_records"], 0);

    // The cache loads to the same sample, and the splits partition the sessions.
    let loaded = segue::data::load_sample_dir(&out_dir).unwrap();
    assert_eq!(loaded.sample.rows.len() as u64, got);
    let splits = segue::data::run::split_counts(&loaded.sample);
    let total: u64 = splits.values().map(|c| c.sessions).sum();
    assert_eq!(total, loaded.sample.sessions.len() as u64);
    for c in splits.values() {
        assert!(c.sessions > 0);
    }
}

#[test]
fn skip_prediction_on_the_real_test_split() {
    let dir = tempfile::tempdir().unwrap();
    let Some(s) = sample_real_rows(dir.path()) else {
        return;
    };
    let o = segue(&["skips", "--sample", s.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // Every test session has a second half to predict.
    let st = segue(&["stats", s.to_str().unwrap(), "--json"]);
    let st: serde_json::Value = serde_json::from_str(&stdout(&st)).unwrap();
    assert_eq!(r["sessions"], st["splits"]["test"]["sessions"]);
    let row = |m: &str| {
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["model"] == m)
            .unwrap()
            .clone()
    };
    let (repeat, random, skip) = (row("repeat last skip_2"), row("random"), row("always skip"));
    assert_eq!(repeat["maa_vs_reference"]["mean"], 0.0);
    // Responses run in streaks on real sessions: repeating the last one beats a coin and a
    // constant, with paired intervals below zero for them.
    for other in [&random, &skip] {
        let d = &other["maa_vs_reference"];
        assert!(d["hi"].as_f64().unwrap() < 0.0, "{other}");
        let m = other["maa"]["mean"].as_f64().unwrap();
        assert!((0.0..1.0).contains(&m), "{other}");
    }
    // The session logistic model, fitted on the training split's sessions, beats repeating
    // the last response on the same test sessions: its paired interval lies above zero.
    let logistic = row("session logistic");
    assert!(
        logistic["maa_vs_reference"]["lo"].as_f64().unwrap() > 0.0,
        "{logistic}"
    );
}
