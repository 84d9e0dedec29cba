//! How much of the true model the training simulator has learned, scored under a synthetic
//! world's true model: one-step greedy play of the simulator's learned metric (its skip model,
//! which reads the encoded state, the last plays and the track) and of the simulator itself,
//! over the greedy baseline's candidates (the 200 most played training tracks and the 50
//! nearest to the anchor) or over every track of the catalogue, beside the greedy oracle and
//! the planner on the same starts. What the logs have taught the simulator bounds what agents
//! trained in it can learn of the users (README, "What holds the agents back").
//!
//! `cargo run --release --example model_greedy -- SAMPLE_DIR ENCODER_DIR WORLD_DIR CONFIG
//! SEEDS EPISODES [SIM_EPISODES]`: CONFIG is a run config whose `[simulator]` table must set
//! `metric = "learned"`; SEEDS like `1,2,3`; the simulator's own choice over every track
//! costs a query per track and step, so it plays only SIM_EPISODES per seed (default 0: not
//! played).
mod common;

use std::sync::Arc;

use segue::data::Split;
use segue::eval::episodes::start_sessions;
use segue::eval::play;
use segue::eval::world::{Ceiling, Oracle};
use segue::simulator::greedy::{GreedyCandidates, SimulatorOracle, SkipGreedy};
use segue::simulator::policy::PopularityPolicy;
use segue::simulator::run::{GREEDY_NEIGHBOURS, GREEDY_POPULAR};

fn main() {
    let a = common::args(
        "model_greedy SAMPLE_DIR ENCODER_DIR WORLD_DIR CONFIG SEEDS EPISODES [SIM_EPISODES]",
        7..=8,
    );
    let common::Loaded {
        sample,
        enc,
        world,
        cfg,
        trans,
        sim,
        skip_model: model,
    } = common::load(&a);
    let seeds: Vec<u64> = a[5].split(',').map(|s| s.parse().unwrap()).collect();
    let episodes: usize = a[6].parse().unwrap();
    let sim_episodes: usize = a.get(7).map_or(0, |s| s.parse().unwrap());

    let ranked = PopularityPolicy::new(&trans, sample.tracks.len()).ranked;
    let popular: Vec<u32> = ranked.iter().copied().take(GREEDY_POPULAR).collect();
    let greedy_cands = Arc::new(GreedyCandidates::new(
        popular,
        GREEDY_NEIGHBOURS,
        &enc.songs,
    ));
    let every_cands = Arc::new(GreedyCandidates::new(ranked, 1, &enc.songs));

    // Skip-greedy (the baseline of `segue eval`) over each candidate set.
    let mut skip_greedy = [
        ("skip model greedy, greedy candidates", &greedy_cands),
        ("skip model greedy, every track", &every_cands),
    ]
    .map(|(name, candidates)| {
        let candidates = candidates.clone();
        (
            name,
            SkipGreedy {
                model: model.clone(),
                candidates,
            },
        )
    });
    let mut rows: Vec<(String, Vec<f64>)> = Vec::new();
    let mut push = |name: String, mean: f64| match rows.iter_mut().find(|r| r.0 == name) {
        Some(r) => r.1.push(mean),
        None => rows.push((name, vec![mean])),
    };
    for &seed in &seeds {
        let starts = start_sessions(&sample, Split::Test, cfg.start_steps, episodes, seed);
        let hidden = world
            .starts(&sample, Split::Test, cfg.start_steps, episodes, seed)
            .unwrap();
        let mut env = world.env(&enc, &sample, &cfg).unwrap();
        for (name, p) in &mut skip_greedy {
            let s = play(&mut env, p, &starts, seed, &enc.songs).unwrap();
            push(name.to_string(), s.mean);
        }
        for kind in [Ceiling::Greedy, Ceiling::Planner] {
            let mut o = Oracle::new(&world, kind, &hidden, cfg.horizon);
            let s = play(&mut env, &mut o, &starts, seed, &enc.songs).unwrap();
            push(format!("{} (the ceiling)", s.policy), s.mean);
        }
        if sim_episodes > 0 {
            let few = start_sessions(&sample, Split::Test, cfg.start_steps, sim_episodes, seed);
            for (name, c) in [
                (
                    "training simulator greedy, greedy candidates",
                    &greedy_cands,
                ),
                ("training simulator greedy, every track", &every_cands),
            ] {
                let mut p = SimulatorOracle {
                    name,
                    sim: &sim,
                    candidates: c,
                };
                let s = play(&mut env, &mut p, &few, seed, &enc.songs).unwrap();
                push(format!("{name} ({sim_episodes} episodes)"), s.mean);
            }
        }
        eprintln!("seed {seed} done");
    }
    println!("true model, {} seeds:", seeds.len());
    for (name, means) in &rows {
        let (m, ci) = segue::stats::mean_ci(means);
        println!("  {name:<60} {m:.2} ± {ci:.2}");
    }
}
