//! How close to optimal is the synthetic world's reference planner? Scores the greedy oracle and
//! beam-search planners of growing width on the same episodes of the default world; when widening
//! the beam stops paying, the planner is near the optimum of the open-loop problem (which, as the
//! state does not depend on responses, is the optimum of the whole problem for a known user).
//!
//! cargo run --release --example planner_gap -- [users=40] [tracks=3000] [seed=11]

use segue::synth::reference::{self, HORIZON, POOL};
use segue::synth::world::{World, WorldConfig};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let users = args.first().copied().unwrap_or(40);
    let tracks = args.get(1).copied().unwrap_or(3_000);
    let seed = args.get(2).copied().unwrap_or(11) as u64;
    let world = World::build(WorldConfig::default(), tracks, seed).expect("default world");
    let beams = [1usize, 8, 32, 128, 512];
    let mut scores = vec![Vec::new(); beams.len()];
    let started = std::time::Instant::now();
    for u in 0..users {
        let e = reference::episode(&world, u);
        let pool = world.pool(&e.user, &e.state, POOL);
        for (i, &b) in beams.iter().enumerate() {
            let branch = if b == 1 { 1 } else { 8 };
            scores[i].push(
                world
                    .model
                    .plan(&e.user, &e.state, &pool, HORIZON, b, branch)
                    .expected,
            );
        }
    }
    println!(
        "{users} users, {tracks} tracks, seed {seed}, horizon {HORIZON} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    println!("beam   mean ± 95% CI   gain over the previous width (paired mean)");
    for (i, b) in beams.iter().enumerate() {
        let (m, ci) = segue::stats::mean_ci(&scores[i]);
        let gain = if i == 0 {
            String::from("-")
        } else {
            let d: Vec<f64> = scores[i]
                .iter()
                .zip(&scores[i - 1])
                .map(|(a, b)| a - b)
                .collect();
            let (g, gci) = segue::stats::mean_ci(&d);
            format!("{g:+.3} ± {gci:.3}")
        };
        println!("{b:>4}   {m:.3} ± {ci:.3}   {gain}");
    }
}
