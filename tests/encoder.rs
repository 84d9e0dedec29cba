//! History encoders end to end: both structures train through the real binary on a tiny
//! synthetic world and beat the trivial baselines on the test split; a paused and resumed run
//! ends bit-identical to an uninterrupted one; saved weights reproduce the encodings exactly.

mod common;
use common::*;

use std::path::{Path, PathBuf};

use segue::encoder::{EncodeReport, Encoder};

/// A tiny synthetic world sampled whole, with its official track features.
fn tiny_sample(dir: &Path) -> PathBuf {
    let args = [
        "--sessions",
        "400",
        "--tracks",
        "600",
        "--files",
        "2",
        "--seed",
        "3",
        "--reference-users",
        "0",
    ];
    synthetic_sample(dir, &args).1
}

fn small_config(dir: &Path) -> PathBuf {
    let c = dir.join("enc.toml");
    std::fs::write(
        &c,
        "[encoder]\nhidden = 32\nlatent = 16\nsong_code = 12\nsong_hidden = 24\nbatch_size = 64\nmax_epochs = 30\nsong_epochs = 60\nthreads = 1\n",
    )
    .unwrap();
    c
}

fn encode(args: &[&str]) -> std::process::Output {
    let mut a = vec!["encode"];
    a.extend_from_slice(args);
    segue(&a)
}

fn report(run: &Path) -> EncodeReport {
    serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap()
}

#[test]
fn both_structures_train_and_beat_the_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let s = tiny_sample(dir.path());
    let cfg = small_config(dir.path());
    for structure in ["a", "b"] {
        let run = dir.path().join(format!("run_{structure}"));
        let o = encode(&[
            "--structure",
            structure,
            "--sample",
            s.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("response accuracy"), "{out}");
        for f in [
            "config.json",
            "metrics.jsonl",
            "checkpoint.safetensors",
            "weights.safetensors",
            "report.json",
            "songs/songs.json",
        ] {
            assert!(run.join(f).is_file(), "{structure}: no {f}");
        }
        let r = report(&run);
        let t = &r.test;
        assert!(t.steps > 1000, "{t:?}");
        // Reconstruction beats predicting the mean song, and the responses beat the majority.
        assert!(t.relative_song_mse < 0.9, "{structure}: {t:?}");
        assert!(
            t.response_accuracy > t.majority_accuracy + 0.1,
            "{structure}: {t:?}"
        );
        assert!(t.total_mse.is_finite() && t.total_mse > 0.0);
        assert_eq!(t.song_layers_mse.is_some(), structure == "b");
        if let Some(m) = t.song_layers_mse {
            // The pretrained song layers reconstruct held-out tracks better than their mean.
            assert!(m < t.mean_song_mse, "{t:?}");
        }
        let lines = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), r.epochs.len());
        // The encodings are what the agent will see: [histories, latent], in (−1, 1).
        let e = Encoder::load(&run).unwrap();
        let z = e.encode(&[
            vec![(0, 3)],
            vec![(1, 0), (2, 1), (3, 2), (4, 3), (5, 3), (6, 0)],
        ]);
        assert_eq!(z.len(), 2 * 16);
        assert!(z.iter().all(|x| x.abs() < 1.0));
    }
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let s = tiny_sample(dir.path());
    let cfg = small_config(dir.path());
    let base = |run: &Path| {
        vec![
            "--structure".to_string(),
            "b".into(),
            "--sample".into(),
            s.display().to_string(),
            "--config".into(),
            cfg.display().to_string(),
            "--out".into(),
            run.display().to_string(),
            "--epochs".into(),
            "4".into(),
        ]
    };
    let whole = dir.path().join("whole");
    let a = base(&whole);
    let o = encode(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    // The same run in three invocations: paused inside the song-layer phase and again later.
    let parts = dir.path().join("parts");
    let mut first = base(&parts);
    first.extend(["--stop-after".into(), "3".into()]);
    let o = encode(&first.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("--resume"));
    assert!(!parts.join("weights.safetensors").exists());
    let mut second = base(&parts);
    second.extend(["--resume".into(), "--stop-after".into(), "10".into()]);
    let o = encode(&second.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    let mut third = base(&parts);
    third.push("--resume".into());
    let o = encode(&third.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", stderr(&o));
    let (x, y) = (
        std::fs::read(whole.join("weights.safetensors")).unwrap(),
        std::fs::read(parts.join("weights.safetensors")).unwrap(),
    );
    assert!(x == y, "weights differ after resuming");
    // The same epochs with the same losses (throughput, the only timing, may differ).
    let losses = |run: &Path| -> Vec<(String, u64, f64, f64)> {
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["phase"].as_str().unwrap().to_string(),
                    v["epoch"].as_u64().unwrap(),
                    v["train_loss"].as_f64().unwrap(),
                    v["valid_loss"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(losses(&whole), losses(&parts));
    assert!(losses(&whole).iter().any(|r| r.0 == "song_layers"));
    // Resuming with another config is refused, and so is reusing the folder without a flag.
    let mut other = base(&parts);
    other.extend(["--resume".into(), "--seed".into(), "9".into()]);
    let o = encode(&other.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("another config"), "{}", stderr(&o));
    let o = encode(&base(&parts).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
}
