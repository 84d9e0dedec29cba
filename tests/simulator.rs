//! The user simulator on the real rows: it predicts held-out responses better than the base
//! rate, and a random policy scores about 15 × the held-out not-skip rate.

mod common;
use common::*;

use segue::simulator::SimulatorConfig;
use segue::simulator::config::KeyMetric;
use segue::simulator::run::run_simulate;

#[test]
fn real_sample_fidelity_and_random_policy() {
    let dir = tempfile::tempdir().unwrap();
    let Some(s) = sample_real_rows(dir.path()) else {
        return;
    };
    // A small, quickly trained encoder is enough to give the simulator its states.
    let run = small_encoder(dir.path(), &s, 3);
    let sim = SimulatorConfig {
        episodes: 400,
        ..Default::default()
    };
    let r = run_simulate(&s, &run, &sim, None).unwrap();
    let f = &r.fidelity;
    assert!(f.transitions > 5_000, "{f:?}");
    assert!(f.auc > 0.6, "{f:?}");
    assert!(f.log_loss < f.base_log_loss, "{f:?}");
    assert!(f.accuracy > f.base_accuracy, "{f:?}");
    let random = r.baselines.iter().find(|e| e.policy == "random").unwrap();
    let expected = 15.0 * r.test_not_skip_rate;
    // Tolerance: 1 point out of 15 (the 95% interval is about ±0.4 with 400 episodes).
    assert!(
        (random.mean - expected).abs() < 1.0,
        "random {} ± {} vs 15 × {} = {expected}",
        random.mean,
        random.ci95,
        r.test_not_skip_rate
    );
    assert!((4.0..6.5).contains(&random.mean), "{random:?}");
    assert_eq!(r.baselines.len(), 5);
    for e in &r.baselines {
        assert_eq!(e.scores.len(), 400);
        // Each episode's score is a whole count of tracks heard out in its 15 steps.
        assert!(
            e.scores.iter().all(|&x| x.fract() == 0.0 && x <= 15.0),
            "{:?}",
            e.scores
        );
    }
}

#[test]
fn synthetic_world_simulator_ranks_baselines_like_the_true_model() {
    // In a synthetic world the true model's reference table puts popularity well above random
    // (7.87 against 3.95 of 15 on the default world); the simulator built from its logs must
    // agree on that order, cover nearly every step of the random policy, and beat the base
    // rate at predicting held-out responses.
    let dir = tempfile::tempdir().unwrap();
    let (w, s, truth) = synthetic_sample(
        dir.path(),
        &[
            "--sessions",
            "1500",
            "--tracks",
            "1500",
            "--files",
            "2",
            "--seed",
            "5",
            "--reference-users",
            "100",
        ],
    );
    let run = small_encoder(dir.path(), &s, 5);
    let r = run_simulate(
        &s,
        &run,
        &SimulatorConfig {
            episodes: 300,
            ..Default::default()
        },
        Some(&w),
    )
    .unwrap();
    let score = |name: &str| {
        r.baselines
            .iter()
            .find(|e| e.policy == name)
            .unwrap()
            .clone()
    };
    let (random, popularity) = (score("random"), score("popularity"));
    assert!(
        popularity.mean > random.mean + random.ci95 + popularity.ci95,
        "{truth}\nsimulated: popularity {popularity:?} random {random:?}"
    );
    assert!(random.uncovered < 0.1, "{random:?}");
    assert!(
        (random.mean - 15.0 * r.test_not_skip_rate).abs() < 1.0,
        "{random:?}"
    );
    assert!(
        r.fidelity.log_loss < r.fidelity.base_log_loss,
        "{:?}",
        r.fidelity
    );
    assert!(r.fidelity.auc > 0.55, "{:?}", r.fidelity);
    // The true model on the same transitions: what a perfect simulator would reach, beyond the
    // simulator's own figures.
    let t = r.true_fidelity.as_ref().unwrap();
    assert_eq!(t.transitions, r.fidelity.transitions);
    assert!(
        t.auc > r.fidelity.auc + 0.1 && t.log_loss < r.fidelity.log_loss,
        "{t:?} vs {:?}",
        r.fidelity
    );
    // More recent plays than the encoder's histories hold are refused, naming the setting.
    let e = run_simulate(
        &s,
        &run,
        &SimulatorConfig {
            recent: 9,
            ..Default::default()
        },
        None,
    )
    .err()
    .unwrap();
    assert!(
        e.to_string()
            .contains("simulator.recent (9) must be at most the encoder's history length (5)"),
        "{e}"
    );
    // Keys placed by a skip model that reads the recent plays predict the same held-out
    // responses better, and still rank popularity above random.
    let learned = run_simulate(
        &s,
        &run,
        &SimulatorConfig {
            episodes: 300,
            recent: 5,
            metric: KeyMetric::Learned,
            ..Default::default()
        },
        Some(&w),
    )
    .unwrap();
    let f = &learned.fidelity;
    assert!(
        f.auc > r.fidelity.auc + 0.03 && f.log_loss < r.fidelity.log_loss,
        "learned {f:?} vs scaled {:?}",
        r.fidelity
    );
    assert!(f.covered > 0.95, "{f:?}");
    assert_eq!(learned.true_fidelity, r.true_fidelity);
    let score = |name: &str| learned.baselines.iter().find(|e| e.policy == name).unwrap();
    let (random, popularity) = (score("random"), score("popularity"));
    assert!(
        popularity.mean > random.mean + random.ci95 + popularity.ci95,
        "popularity {popularity:?} random {random:?}"
    );

    // The simulator as a skip predictor (`segue skips --encoder`): it never reads the second
    // half's responses (flipping them leaves its predictions unchanged), and it appears in the
    // command's table.
    use segue::simulator::skips::{simulator_predictions, tasks};
    let setup = segue::agent::train::Setup::load(
        &s,
        &run,
        &SimulatorConfig::default(),
        &segue::agent::AgentConfig::default(),
    )
    .unwrap();
    let mut test = tasks(&setup.sample, segue::data::Split::Test);
    let before = simulator_predictions(&setup.train_sim, &setup.encoder, &test);
    for t in &mut test {
        t.truth.iter_mut().for_each(|v| *v = !*v);
    }
    assert_eq!(
        simulator_predictions(&setup.train_sim, &setup.encoder, &test),
        before
    );
    assert!(
        before
            .iter()
            .zip(&test)
            .all(|(p, t)| p.len() == t.upcoming.len())
    );
    let o = segue(&[
        "skips",
        "--sample",
        s.to_str().unwrap(),
        "--encoder",
        run.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let knn = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["model"] == "kNN user simulator")
        .unwrap();
    let maa = knn["maa"]["mean"].as_f64().unwrap();
    assert!(maa > 0.0 && maa < 1.0, "{knn}");
}
