//! `segue synth`: files in the official schemas with the target rates, determinism, the saved
//! model, and evidence that history matters under the hidden user model.

mod common;
use common::*;

use segue::synth::model::{NO_DISCOVERY, User};
use segue::synth::reference::{self, HORIZON, POOL};
use segue::synth::world::{Preset, World, WorldConfig};
use segue::synth::{SynthConfig, run_synth, saved};

fn small(seed: u64) -> SynthConfig {
    SynthConfig {
        sessions: 3_000,
        tracks: 2_000,
        files: 3,
        seed,
        reference_users: 0,
        ..Default::default()
    }
}

#[test]
fn files_pass_stats_with_the_target_rates_and_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w");
    let run = run_synth(&small(1), &out, false, false).unwrap();
    assert_eq!(run.report.log_files.len(), 3);
    let o = segue(&["stats", out.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["sessions"], 3_000);
    assert_eq!(v["records"], run.report.records);
    assert_eq!(v["incomplete_records"], 0);
    assert_eq!(v["inconsistent_skips"], 0);
    assert!(v["bad_rows"].as_object().unwrap().is_empty());
    // Rates within 0.02 of the published ones (the thresholds are calibrated on a pilot of
    // 4,000 sessions; 3,000 sessions of ~50k plays vary by about ±0.01).
    let rate = |k: &str| v["skip_rates"][k].as_f64().unwrap();
    for (k, target) in [
        ("skip_1", 0.4152),
        ("skip_2", 0.5089),
        ("not_skipped", 0.3441),
    ] {
        assert!(
            (rate(k) - target).abs() < 0.02,
            "{k}: {} vs {target}",
            rate(k)
        );
    }
    // Session lengths: 47.7% of length 20, the rest over 10..19 (binomial sd here ≈ 0.009).
    let lengths = v["session_lengths"].as_object().unwrap();
    let share = |l: &str| lengths.get(l).and_then(|n| n.as_u64()).unwrap_or(0) as f64 / 3_000.0;
    assert!((share("20") - 0.477).abs() < 0.03, "{}", share("20"));
    assert!((share("10") - 0.088).abs() < 0.02, "{}", share("10"));
    assert!(
        lengths
            .keys()
            .all(|l| (10..=20).contains(&l.parse::<u32>().unwrap()))
    );
    // One day per file: three dates.
    assert_eq!(v["session_dates"].as_object().unwrap().len(), 3);
    // Position profile near the published one: fewer skips at the start.
    let by_pos: Vec<f64> = v["skip_2_by_position"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(by_pos[0] < by_pos[5] - 0.05, "{by_pos:?}");
}

#[test]
fn same_seed_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small(5);
    cfg.sessions = 600;
    cfg.gzip = true;
    cfg.reference_users = 4;
    let read_all = |d: &std::path::Path| {
        let mut names: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(d.join(n)).unwrap()))
            .collect::<Vec<_>>()
    };
    run_synth(&cfg, &dir.path().join("a"), false, false).unwrap();
    cfg.threads = 1;
    run_synth(&cfg, &dir.path().join("b"), false, false).unwrap();
    let (a, b) = (
        read_all(&dir.path().join("a")),
        read_all(&dir.path().join("b")),
    );
    assert_eq!(a.len(), 6); // 3 logs, 1 track file, world.json, world.bin
    // Same bytes, whatever the number of threads (world.json records the config, threads aside).
    for ((na, ba), (nb, bb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        if na != "world.json" {
            assert_eq!(ba, bb, "{na:?}");
        }
    }
    cfg.seed = 6;
    run_synth(&cfg, &dir.path().join("c"), false, false).unwrap();
    let c = read_all(&dir.path().join("c"));
    assert_ne!(a[0].1, c[0].1);
}

#[test]
fn the_saved_model_scores_logged_sessions_like_the_generator() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w");
    let mut cfg = small(9);
    cfg.sessions = 300;
    run_synth(&cfg, &out, false, false).unwrap();
    let w = saved::load(&out).unwrap();
    assert_eq!(w.users(), 300);
    // Every logged track and session is known to the model.
    let s = segue::data::run_sample(
        &segue::data::SampleConfig {
            logs: vec![out.clone()],
            records: 1_000_000,
            ..Default::default()
        },
        &dir.path().join("s"),
        false,
        false,
    )
    .unwrap();
    assert_eq!(s.sample.sessions, 300);
    let sample = segue::data::load_sample_dir(&dir.path().join("s"))
        .unwrap()
        .sample;
    let mut agree = 0.0;
    let mut n = 0.0;
    for sess in &sample.sessions {
        let user: &User = w.user(&sess.id).expect("every session has its user");
        let mut state = w.model.start(user);
        for r in sample.rows_of(sess) {
            let t = w
                .track(&sample.tracks[r.track as usize])
                .expect("every track is in the model");
            let z = w.model.engagement(user, &state, t);
            // The logged response is a draw from the model's level distribution at z.
            let p = w.model.levels(z)[r.flags.response_level() as usize];
            agree += p;
            n += 1.0;
            w.model.advance(&mut state, t);
        }
    }
    // Mean probability of the logged level under the saved model: far above the 0.25 of a model
    // unrelated to the logs.
    assert!(agree / n > 0.35, "{}", agree / n);
    assert!(
        sample
            .sessions
            .iter()
            .all(|x| w.user(&x.id).unwrap().discovery == NO_DISCOVERY)
    );
    // With discovery, each saved user keeps the cluster drawn for them, which the engagement
    // reads: the logged levels stay as likely under the saved model.
    let disc = dir.path().join("disc");
    cfg.world.user.discovery = 3.0;
    cfg.world.user.discovery_cost = 0.5;
    run_synth(&cfg, &disc, false, false).unwrap();
    let wd = saved::load(&disc).unwrap();
    let s2 = dir.path().join("s2");
    let sample_cfg = segue::data::SampleConfig {
        logs: vec![disc.clone()],
        records: 1_000_000,
        ..Default::default()
    };
    segue::data::run_sample(&sample_cfg, &s2, false, false).unwrap();
    let sample2 = segue::data::load_sample_dir(&s2).unwrap().sample;
    let (mut agree, mut n, mut introduced) = (0.0, 0.0, 0);
    for sess in &sample2.sessions {
        let user: &User = wd.user(&sess.id).unwrap();
        assert!((user.discovery as usize) < wd.model.clusters);
        let mut state = wd.model.start(user);
        for r in sample2.rows_of(sess) {
            let t = wd.track(&sample2.tracks[r.track as usize]).unwrap();
            let z = wd.model.engagement(user, &state, t);
            agree += wd.model.levels(z)[r.flags.response_level() as usize];
            n += 1.0;
            wd.model.advance(&mut state, t);
        }
        introduced += (wd.model.discovered(user, &state.played, 0) > 0.0) as usize;
    }
    assert!(agree / n > 0.35, "{}", agree / n);
    assert!(
        introduced > 0,
        "no logged session met its discovery cluster"
    );
    // A damaged model file is refused.
    let bin = out.join("world.bin");
    let mut bytes = std::fs::read(&bin).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&bin, bytes).unwrap();
    assert!(
        saved::load(&out)
            .unwrap_err()
            .to_string()
            .contains("checksum")
    );
}

#[test]
fn on_the_sequential_preset_the_planner_beats_the_greedy_oracle_by_ten_percent() {
    // The preset's point: the best sequential reference of `segue synth`'s table (the planner,
    // beam 32) beats the one-step greedy oracle by 10% or more under the true model, over 15
    // steps from the state after 5 logged plays. 60 users of an 800-track world, paired.
    let mut cfg = WorldConfig::default();
    Preset::Sequential.apply(&mut cfg.user);
    let world = World::build(cfg, 800, 1).unwrap();
    let (mut gains, mut greedy_total) = (Vec::new(), 0.0);
    for u in 0..60 {
        let e = reference::episode(&world, u);
        let pool = world.pool(&e.user, &e.state, POOL);
        let greedy = world.model.greedy(&e.user, &e.state, &pool, HORIZON);
        let plan = world.model.plan(&e.user, &e.state, &pool, HORIZON, 32, 8);
        gains.push(plan.expected - greedy.expected);
        greedy_total += greedy.expected;
    }
    let (gain, ci) = segue::stats::mean_ci(&gains);
    let greedy_mean = greedy_total / 60.0;
    assert!(
        gain / greedy_mean >= 0.10 && gain - ci > 0.0,
        "planner − greedy {gain:.3} ± {ci:.3} over greedy {greedy_mean:.3}"
    );
}

#[test]
fn history_matters_the_planner_beats_the_greedy_oracle() {
    // On the true model, over 15 steps from the state after 5 logged plays, a beam-search
    // planner beats the one-step greedy oracle (which knows the user's hidden taste too). The
    // margin stated in the README is checked here on 40 users.
    let world = World::build(WorldConfig::default(), 3_000, 11).unwrap();
    let mut gains = Vec::new();
    let mut greedy_total = 0.0;
    for u in 0..40 {
        let e = reference::episode(&world, u);
        let pool = world.pool(&e.user, &e.state, POOL);
        let greedy = world.model.greedy(&e.user, &e.state, &pool, HORIZON);
        let plan = world.model.plan(&e.user, &e.state, &pool, HORIZON, 32, 8);
        assert!(plan.expected >= greedy.expected - 1e-12);
        // The plan's score is exact: replaying its tracks gives it back.
        let replay = world.model.expected_score(&e.user, &e.state, &plan.tracks);
        assert!((replay - plan.expected).abs() < 1e-9);
        gains.push(plan.expected - greedy.expected);
        greedy_total += greedy.expected;
    }
    let (mean_gain, ci) = segue::stats::mean_ci(&gains);
    let greedy_mean = greedy_total / 40.0;
    assert!(mean_gain - ci > 0.0, "gain {mean_gain} ± {ci}");
    assert!(
        mean_gain / greedy_mean > 0.02,
        "gain {mean_gain} over greedy {greedy_mean}"
    );
}
