//! The agent end to end on a small synthetic world: `segue train` writes its run folder, a run
//! interrupted and resumed ends exactly where an uninterrupted one does, and `segue eval`
//! scores the agents and the baselines in the held-out simulator and under the true model.

mod common;
use common::*;

use std::path::Path;

const AGENT: &str = "[agent]
hidden = 32
batch = 64
buffer = 20000
envs = 16
rounds = 4
updates_per_step = 2
warmup = 100
candidates = 4
eval_every = 2
eval_episodes = 20

[simulator]
episodes = 40
";

fn train(sample: &Path, enc: &Path, cfg: &Path, out: &Path, extra: &[&str]) -> String {
    let o = train_output(sample, enc, cfg, out, extra);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
}

/// `segue train` with the sample, encoder, config and out folder, then `extra`.
fn train_output(
    sample: &Path,
    enc: &Path,
    cfg: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let mut a = vec![
        "train",
        "--sample",
        sample.to_str().unwrap(),
        "--encoder",
        enc.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    a.extend_from_slice(extra);
    segue(&a)
}

#[test]
fn train_resume_and_eval_on_a_synthetic_world() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (world, s, _) = synthetic_sample(
        d,
        &[
            "--sessions",
            "600",
            "--tracks",
            "400",
            "--files",
            "2",
            "--seed",
            "3",
            "--reference-users",
            "20",
        ],
    );
    let enc = small_encoder(d, &s, 2);
    let cfg = d.join("agent.toml");
    std::fs::write(&cfg, AGENT).unwrap();

    // Uninterrupted TD3 run.
    let full = d.join("full");
    let text = train(&s, &enc, &cfg, &full, &["--algo", "td3"]);
    assert!(
        text.contains("td3+wolpertinger in held-out simulator"),
        "{text}"
    );
    for f in [
        "config.json",
        "metrics.jsonl",
        "checkpoint.safetensors",
        "weights.safetensors",
        "report.json",
        "curves.png",
    ] {
        assert!(full.join(f).is_file(), "{f} missing");
    }
    let metrics = std::fs::read_to_string(full.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 4);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(full.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["heldout"]["episodes"], 40);
    assert!(report["updates"].as_u64().unwrap() > 0);

    // Stopped before its first round, the run's checkpoint holds the agent that `segue eval`
    // rebuilds from the run's config as its untrained ablation: the same weights, to the bit.
    let zero = d.join("zero");
    train(
        &s,
        &enc,
        &cfg,
        &zero,
        &["--algo", "td3", "--stop-after", "0"],
    );
    let (ckpt, _) = segue::nn::store::load(&zero.join("checkpoint.safetensors")).unwrap();
    let run: segue::agent::train::TrainConfig =
        serde_json::from_str(&std::fs::read_to_string(zero.join("config.json")).unwrap()).unwrap();
    let setup = segue::agent::train::Setup::load(&s, &enc, &run.simulator, &run.agent).unwrap();
    let fresh = segue::agent::train::new_agent(&setup, &run.agent).unwrap();
    let exported = fresh.export(false);
    assert!(exported.len() > 4);
    for (name, dims, values) in exported {
        let saved = ckpt
            .iter()
            .find(|t| t.0 == name)
            .expect("in the checkpoint");
        assert!(saved.1 == dims && saved.2 == values, "{name} differs");
    }

    // Interrupted after 1 round (before the first checkpoint of eval_every), then after 3,
    // resumed: identical weights and metrics.
    let part = d.join("part");
    let text = train(
        &s,
        &enc,
        &cfg,
        &part,
        &["--algo", "td3", "--stop-after", "1"],
    );
    assert!(text.contains("paused after 1 of 4 rounds"), "{text}");
    let text = train(
        &s,
        &enc,
        &cfg,
        &part,
        &["--algo", "td3", "--resume", "--stop-after", "2"],
    );
    assert!(text.contains("paused after 3 of 4 rounds"), "{text}");
    train(&s, &enc, &cfg, &part, &["--algo", "td3", "--resume"]);
    let read = |p: &Path, f: &str| std::fs::read(p.join(f)).unwrap();
    assert!(read(&full, "weights.safetensors") == read(&part, "weights.safetensors"));
    let strip_seconds = |t: String| -> Vec<serde_json::Value> {
        t.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("seconds");
                v
            })
            .collect()
    };
    assert_eq!(
        strip_seconds(metrics),
        strip_seconds(std::fs::read_to_string(part.join("metrics.jsonl")).unwrap())
    );

    // A config change is refused on resume; an existing folder needs --force.
    let o = train_output(&s, &enc, &cfg, &part, &["--resume", "--algo", "ddpg"]);
    assert!(
        !o.status.success() && stderr(&o).contains("another config"),
        "{}",
        stderr(&o)
    );
    let o = segue(&[
        "train",
        "--sample",
        s.to_str().unwrap(),
        "--encoder",
        enc.to_str().unwrap(),
        "--out",
        full.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );

    // A DDPG run that fine-tunes the encoder, also resumed exactly; then eval over both runs
    // and the baselines, with the true model.
    let ddpg = d.join("ddpg");
    let tuned = [
        "--algo",
        "ddpg",
        "--candidates",
        "1",
        "--encoder-mode",
        "fine-tuned",
    ];
    train(&s, &enc, &cfg, &ddpg, &tuned);
    let ddpg_part = d.join("ddpg-part");
    train(
        &s,
        &enc,
        &cfg,
        &ddpg_part,
        &[&tuned[..], &["--stop-after", "3"]].concat(),
    );
    train(
        &s,
        &enc,
        &cfg,
        &ddpg_part,
        &[&tuned[..], &["--resume"]].concat(),
    );
    assert!(read(&ddpg, "weights.safetensors") == read(&ddpg_part, "weights.safetensors"));
    let (weights, _) = segue::nn::store::load(&ddpg.join("weights.safetensors")).unwrap();
    assert!(weights.iter().any(|t| t.0 == "encoder.enc.lstm.wx"));
    // It serves with its own encoder.
    let log = std::fs::read_dir(&world)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("log_"))
        .unwrap();
    let rows: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .take(6)
        .map(str::to_owned)
        .collect();
    let history = d.join("history.csv");
    std::fs::write(&history, rows.join("\n") + "\n").unwrap();
    recommend_three(&ddpg, &history);
    let out = d.join("eval.json");
    let o = segue(&[
        "eval",
        "--runs",
        full.to_str().unwrap(),
        ddpg.to_str().unwrap(),
        "--seeds",
        "1,2",
        "--episodes",
        "30",
        "--world",
        world.to_str().unwrap(),
        "--sim-oracle",
        "--posterior",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let rows = r["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|x| x["policy"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "random",
            "popularity",
            "logged",
            "content",
            "greedy",
            "td3+wolpertinger",
            "td3+wolpertinger untrained",
            "ddpg-ft",
            "ddpg-ft untrained",
            "simulator oracle",
            "training-simulator oracle"
        ],
        "{table}"
    );
    // The held-out simulator's own choice is a reference row, not a baseline: never paired,
    // and in its simulator it scores at least what the greedy baseline does from the same
    // candidates.
    let row = |name: &str| rows.iter().find(|x| x["policy"] == name).unwrap();
    let oracle = row("simulator oracle");
    let fitted = row("training-simulator oracle");
    assert!(
        oracle["reference"].as_bool().unwrap()
            && fitted["reference"].as_bool().unwrap()
            && !row("greedy")["reference"].as_bool().unwrap()
    );
    for x in [row("greedy"), fitted] {
        assert!(
            oracle["mean"].as_f64().unwrap() >= x["mean"].as_f64().unwrap(),
            "{table}"
        );
    }
    // The training simulator's own choice is, in the training simulator, at least what the
    // greedy baseline and the held-out simulator's choice score there.
    for x in [row("greedy"), oracle] {
        assert!(
            fitted["train_sim_mean"].as_f64().unwrap() >= x["train_sim_mean"].as_f64().unwrap(),
            "{table}"
        );
    }
    for x in rows {
        assert_eq!(x["cells"], 2, "{x}");
        assert_eq!(x["episodes"], 60, "{x}");
        let (m, t) = (
            x["mean"].as_f64().unwrap(),
            x["true_mean"].as_f64().unwrap(),
        );
        // A held-out score is a mean of whole counts of tracks heard out over the row's 120
        // episodes (2 cells of 60); the true model's is at most the 15 steps.
        let whole = m * 120.0;
        assert!((whole - whole.round()).abs() < 1e-6 && m <= 15.0, "{x}");
        assert!(t <= 15.0 && t > 0.0, "{x}");
        // Every row is also scored in the training simulator, the same way.
        let tr = x["train_sim_mean"].as_f64().unwrap() * 120.0;
        assert!((tr - tr.round()).abs() < 1e-6, "{x}");
    }
    let oracles = r["oracles"].as_array().unwrap();
    assert_eq!(oracles.len(), 2);
    let ceiling = oracles[1]["mean"].as_f64().unwrap();
    // Nothing beats the planner that knows the hidden user, under the true model.
    for x in rows {
        assert!(
            x["true_mean"].as_f64().unwrap() < ceiling + 1e-9,
            "{x} vs {ceiling}"
        );
    }
    assert!(table.contains("planner (beam 8)"), "{table}");
    // The posterior-greedy reference: one score per episode, above the random track's.
    let post = &r["posterior"];
    assert_eq!(post["episodes"], 60, "{post}");
    assert!(
        post["mean"].as_f64().unwrap() > row("random")["true_mean"].as_f64().unwrap() + 1.0,
        "{table}"
    );
    assert!(table.contains("posterior greedy"), "{table}");
    // Each learned policy paired with each baseline: the mean difference is the difference of
    // the rows' means, in the simulator and under the true model.
    let paired = r["paired"].as_array().unwrap();
    assert_eq!(paired.len(), 4 * 5, "{table}");
    for p in paired {
        let (l, b) = (
            row(p["policy"].as_str().unwrap()),
            row(p["baseline"].as_str().unwrap()),
        );
        assert!(l["learned"].as_bool().unwrap() && !b["learned"].as_bool().unwrap());
        for (d, m) in [("mean", "mean"), ("true_mean", "true_mean")] {
            let want = l[m].as_f64().unwrap() - b[m].as_f64().unwrap();
            assert!((p[d].as_f64().unwrap() - want).abs() < 1e-9, "{p}");
        }
        assert!(p["ci95"].as_f64().unwrap() >= 0.0, "{p}");
    }
    assert!(
        table.contains("paired with each baseline, under the true model"),
        "{table}"
    );
    // What training adds: each trained row against its untrained row, paired cell by cell; the
    // mean difference is the difference of the rows' means.
    let training = r["training"].as_array().unwrap();
    assert_eq!(training.len(), 2, "{table}");
    for t in training {
        let name = t["policy"].as_str().unwrap();
        assert_eq!(t["baseline"], format!("{name} untrained"));
        for m in ["mean", "true_mean"] {
            let want = row(name)[m].as_f64().unwrap()
                - row(t["baseline"].as_str().unwrap())[m].as_f64().unwrap();
            assert!((t[m].as_f64().unwrap() - want).abs() < 1e-9, "{t}");
        }
    }
    assert!(table.contains("what training adds"), "{table}");

    // --policies keeps the named baselines and the learned policies by prefix.
    let o = segue(&[
        "eval",
        "--runs",
        full.to_str().unwrap(),
        ddpg.to_str().unwrap(),
        "--seeds",
        "1",
        "--episodes",
        "10",
        "--policies",
        "random,td3",
        "--candidates",
        "8,4",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<&str> = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["policy"].as_str().unwrap())
        .collect();
    // k = 4 is the trained one; 8 re-ranks more of the critic's candidates.
    assert_eq!(
        names,
        [
            "random",
            "td3+wolpertinger",
            "td3+wolpertinger k=8",
            "td3+wolpertinger untrained"
        ]
    );

    // The acting k chosen in the validation simulator: the best of 1, the trained 4 and 32
    // (the smallest on a tie), recorded in the report and used when the run is loaded.
    let act_cfg = variant(d, "act", "candidates = 4\nact_candidates = [32, 1]\n");
    let act = d.join("act");
    train(&s, &enc, &act_cfg, &act, &["--algo", "ddpg"]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(act.join("report.json")).unwrap()).unwrap();
    let tried: Vec<(u64, f64)> = r["act_candidates_valid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x[0].as_u64().unwrap(), x[1].as_f64().unwrap()))
        .collect();
    assert_eq!(tried.iter().map(|x| x.0).collect::<Vec<_>>(), [1, 4, 32]);
    let best = tried.iter().map(|x| x.1).fold(f64::MIN, f64::max);
    let chosen = tried.iter().find(|x| x.1 == best).unwrap().0;
    assert_eq!(r["act_candidates"].as_u64().unwrap(), chosen, "{r}");
    let first = policies(&act)[0].clone();
    let expected = if chosen == 1 {
        "ddpg"
    } else {
        "ddpg+wolpertinger"
    };
    assert_eq!(first, expected, "chosen k {chosen}");

    // Popular candidates: the critic re-ranks the nearest track with the 8 most played.
    let pop_cfg = variant(d, "popular", "candidates = 1\npopular_candidates = 8\n");
    let pop = d.join("popular");
    train(&s, &enc, &pop_cfg, &pop, &["--algo", "ddpg"]);
    assert_eq!(
        policies(&pop),
        ["ddpg+wolpertinger", "ddpg+wolpertinger untrained"]
    );

    // Anchor candidates: the nearest track with the 8 tracks nearest the last one heard out.
    let anc_cfg = variant(d, "anchor", "candidates = 1\nanchor_candidates = 8\n");
    let anc = d.join("anchor");
    train(&s, &enc, &anc_cfg, &anc, &["--algo", "ddpg"]);
    assert_eq!(
        policies(&anc),
        ["ddpg+wolpertinger", "ddpg+wolpertinger untrained"]
    );

    // Against the true model: the run records the world, validates under it and gets rows of
    // its own.
    let truth = d.join("truth");
    let w = world.to_str().unwrap();
    train(&s, &enc, &cfg, &truth, &["--algo", "td3", "--world", w]);
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(truth.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        Path::new(c["world"].as_str().unwrap()),
        world.canonicalize().unwrap()
    );
    assert_eq!(
        policies(&truth),
        ["td3@truth+wolpertinger", "td3@truth+wolpertinger untrained"]
    );
    // Its validation scores are not the simulator's (the same seed and config as `full`).
    let valid = |run: &Path| -> Vec<f64> {
        std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["valid_score"].as_f64()
            })
            .collect()
    };
    assert_eq!(valid(&truth).len(), 2);
    assert_ne!(valid(&truth), valid(&full));
    // Recent tracks and expected rewards: the critics weigh each candidate's differences from
    // the last 3 plays, coordinate by coordinate; an interrupted run resumes exactly, and the
    // run evaluates and serves.
    let rec_cfg = variant(
        d,
        "recent",
        "candidates = 4\nrecent_tracks = 3\nexpected_rewards = true\n",
    );
    let rec = d.join("recent");
    train(&s, &enc, &rec_cfg, &rec, &["--algo", "td3"]);
    let rec_part = d.join("recent-part");
    train(
        &s,
        &enc,
        &rec_cfg,
        &rec_part,
        &["--algo", "td3", "--stop-after", "1"],
    );
    train(
        &s,
        &enc,
        &rec_cfg,
        &rec_part,
        &["--algo", "td3", "--resume"],
    );
    assert!(read(&rec, "weights.safetensors") == read(&rec_part, "weights.safetensors"));
    let (weights, _) = segue::nn::store::load(&rec.join("weights.safetensors")).unwrap();
    let rows = |name: &str| weights.iter().find(|t| t.0 == name).unwrap().1[0];
    assert_eq!(rows("q2.l1.wd"), 3 * rows("q2.l1.wa"));
    assert_eq!(
        policies(&rec),
        ["td3+wolpertinger", "td3+wolpertinger untrained"]
    );
    recommend_three(&rec, &history);
    // The skip model in the re-ranking: the run saves the training simulator's skip model
    // and evaluation and serving read it back; without a learned metric it is refused.
    let skip_cfg = d.join("skip.toml");
    std::fs::write(
        &skip_cfg,
        AGENT.replace(
            "candidates = 4\n",
            "candidates = 4\nskip_model_weight = 2.0\n",
        ) + "metric = \"learned\"\nrecent = 2\n",
    )
    .unwrap();
    let skip = d.join("skip");
    train(&s, &enc, &skip_cfg, &skip, &["--algo", "td3"]);
    assert!(skip.join("skip_model.safetensors").is_file());
    assert_eq!(
        policies(&skip),
        ["td3+wolpertinger+skip", "td3+wolpertinger+skip untrained"]
    );
    // With a learned metric, skip-greedy (the same skip model played alone) is a baseline:
    // after greedy, and paired with every learned row.
    let e = short_eval(&skip, &[]);
    let rows = e["rows"].as_array().unwrap();
    assert_eq!(rows[5]["policy"], "skip-greedy", "{e}");
    assert!(!rows[5]["learned"].as_bool().unwrap());
    let paired = e["paired"].as_array().unwrap();
    assert_eq!(
        paired
            .iter()
            .filter(|p| p["baseline"] == "skip-greedy")
            .count(),
        2,
        "{e}"
    );
    recommend_three(&skip, &history);
    let o = train_output(
        &s,
        &enc,
        &variant(
            d,
            "skip-scaled",
            "candidates = 4\nskip_model_weight = 2.0\n",
        ),
        &d.join("skip-scaled"),
        &[],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("metric = \"learned\""),
        "{}",
        stderr(&o)
    );
    // More recent tracks than the encoder's history holds are refused.
    let o = train_output(
        &s,
        &enc,
        &variant(d, "too-many", "candidates = 4\nrecent_tracks = 9\n"),
        &d.join("too-many"),
        &[],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("agent.recent_tracks (9) must be at most"),
        "{}",
        stderr(&o)
    );

    // A world the sample was not drawn from is refused before training.
    let other = d.join("other");
    let o = segue(&[
        "synth",
        "--sessions",
        "50",
        "--tracks",
        "40",
        "--files",
        "1",
        "--seed",
        "5",
        "--reference-users",
        "0",
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let refused = d.join("refused");
    let o = train_output(
        &s,
        &enc,
        &cfg,
        &refused,
        &["--world", other.to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is not in the world model"),
        "{}",
        stderr(&o)
    );
}

/// `segue recommend` of three tracks from `run` after the plays in `history`: it succeeds with
/// three.
fn recommend_three(run: &Path, history: &Path) {
    let o = segue(&[
        "recommend",
        "--run",
        run.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
        "--k",
        "3",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3, "{v}");
}

/// `AGENT` with its `candidates` line replaced by `lines`, written to `dir/name.toml`.
fn variant(dir: &Path, name: &str, lines: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, AGENT.replace("candidates = 4\n", lines)).unwrap();
    path
}

/// The JSON report of a short `segue eval` of one run (one seed, 5 episodes), then `extra`.
fn short_eval(run: &Path, extra: &[&str]) -> serde_json::Value {
    let mut a = vec![
        "eval",
        "--runs",
        run.to_str().unwrap(),
        "--seeds",
        "1",
        "--episodes",
        "5",
        "--json",
    ];
    a.extend_from_slice(extra);
    let o = segue(&a);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

/// The policy rows of a short `segue eval` of one run, without baselines.
fn policies(run: &Path) -> Vec<String> {
    short_eval(run, &["--no-baselines"])["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["policy"].as_str().unwrap().to_owned())
        .collect()
}
