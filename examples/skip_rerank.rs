//! What the training simulator's skip model adds to agents trained without it: each run's
//! policy re-ranks its Wolpertinger candidates by Q(s, a) + w·P̂(not skipped | s, a) at acting
//! time only (`[agent] skip_model_weight`, README, "segue demo"), scored under a synthetic
//! world's true model on the held-out split's starts.
//!
//! `cargo run --release --example skip_rerank -- SAMPLE_DIR ENCODER_DIR WORLD_DIR CONFIG RUNS
//! EPISODES VARIANTS`: CONFIG is the runs' config, whose `[simulator]` table must set
//! `metric = "learned"`; RUNS like `runs/demo/agents/td3-1,runs/demo/agents/td3-2` (the i-th
//! run plays seed i); VARIANTS like `16:0,16:3,64:3` (k:w; w = 0 is the critic alone).
mod common;

use segue::agent::policy::{ActionSpace, AgentPolicy};
use segue::agent::train::load_agent;
use segue::data::Split;
use segue::eval::episodes::start_sessions;
use segue::eval::play;
use std::path::Path;

fn main() {
    let a = common::args(
        "skip_rerank SAMPLE_DIR ENCODER_DIR WORLD_DIR CONFIG RUNS EPISODES VARIANTS",
        8..=8,
    );
    let common::Loaded {
        sample,
        enc,
        world,
        cfg,
        skip_model,
        ..
    } = common::load(&a);
    let runs: Vec<&str> = a[5].split(',').collect();
    let episodes: usize = a[6].parse().unwrap();
    let variants: Vec<(usize, f64)> = a[7]
        .split(',')
        .map(|v| {
            let (k, w) = v.split_once(':').expect("VARIANTS like 16:3");
            (k.parse().unwrap(), w.parse().unwrap())
        })
        .collect();

    let mut means = vec![Vec::new(); variants.len()];
    for (i, run) in runs.iter().enumerate() {
        let seed = i as u64 + 1;
        let (mut agent, _) = load_agent(Path::new(run)).unwrap();
        agent.skip_model = Some(skip_model.clone());
        let space = ActionSpace::new(&enc.songs, &agent.cfg.index).with_popularity(&sample);
        let starts = start_sessions(&sample, Split::Test, cfg.start_steps, episodes, seed);
        let mut env = world.env(&enc, &sample, &cfg).unwrap();
        for (&(k, w), m) in variants.iter().zip(&mut means) {
            agent.cfg.skip_model_weight = w;
            let mut p = AgentPolicy {
                name: String::new(),
                agent: &agent,
                space: &space,
                candidates: k,
            };
            let s = play(&mut env, &mut p, &starts, seed, &enc.songs).unwrap();
            m.push(s.mean);
        }
        eprintln!("{run} done");
    }
    println!("true model, {} runs:", runs.len());
    for ((k, w), m) in variants.iter().zip(&means) {
        let (mean, ci) = segue::stats::mean_ci(m);
        println!("  k = {k:<4} w = {w:<5} {mean:.2} ± {ci:.2}");
    }
}
