//! `segue demo` end to end through the real binary, reduced (`--quick`): the whole pipeline
//! runs, the report has its sections and figures, and the learned policies beat random.

mod common;
use common::*;

#[test]
fn quick_demo_writes_the_report_and_learned_policies_beat_random() {
    let dir = tempfile::tempdir().unwrap();
    // A folder that is not an earlier demo is never replaced.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let o = segue(&["demo", "--quick", "--out", other.to_str().unwrap()]);
    assert!(
        !o.status.success() && stderr(&o).contains("not an earlier demo"),
        "{}",
        stderr(&o)
    );
    assert!(other.join("keep.txt").is_file());
    let out = dir.path().join("demo");
    let o = segue(&["demo", "--quick", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for s in [
        "random",
        "popularity",
        "ddpg+wolpertinger+skip",
        "td3+wolpertinger+skip",
        "planner (beam 8)",
        "demo wall time",
    ] {
        assert!(text.contains(s), "{s} missing from\n{text}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for s in [
        "## Scores",
        "## Sampling",
        "## History encoder",
        "## Simulator fidelity",
        "## Agents",
        "![scores.png](scores.png)",
        "![learning.png](learning.png)",
        "true model",
        "Paired with each baseline",
        "| td3+wolpertinger+skip | ",
    ] {
        assert!(md.contains(s), "{s} missing from report.md");
    }
    // The encoder table shows the run's own test figures (from pipeline.json) beside the study's.
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pipeline.json")).unwrap()).unwrap();
    let t = &p["encoder"]["test"];
    let row = format!(
        "| {:.4} | {:.4} |",
        t["total_mse"].as_f64().unwrap(),
        t["song_mse"].as_f64().unwrap()
    );
    assert!(md.contains(&row), "{row} missing from report.md");
    for f in [
        "scores.png",
        "learning.png",
        "pipeline.json",
        "eval.json",
        "encoder/loss.png",
        "agents/td3-1/skip_model.safetensors",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    let rows = r["rows"].as_array().unwrap();
    let mean = |name: &str| {
        rows.iter()
            .find(|x| x["policy"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))["mean"]
            .as_f64()
            .unwrap()
    };
    let random = mean("random");
    for p in ["ddpg+wolpertinger+skip", "td3+wolpertinger+skip"] {
        assert!(
            mean(p) > random,
            "{p} {} vs random {random}\n{text}",
            mean(p)
        );
    }
    // Two algorithms × two seeds, each with its run folder.
    let agents = std::fs::read_dir(out.join("agents")).unwrap().count();
    assert_eq!(agents, 4);
}
