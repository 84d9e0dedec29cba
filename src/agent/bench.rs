//! `segue bench agent`: DDPG / TD3 updates per second on a replay buffer of random transitions,
//! the same networks and batch as `bench/agent/torch_ddpg.py` runs in PyTorch, with where the
//! time goes. The targets here use μ'(s') directly (no projection onto real tracks), as the
//! PyTorch script does.

use std::time::Instant;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::config::{AgentConfig, Algo};
use super::nets::Agent;
use super::replay::Replay;
use crate::rng::Rng;

/// What `segue bench agent` measures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AgentBench {
    pub algo: String,
    pub threads: usize,
    pub batch: usize,
    pub hidden: usize,
    pub state_dim: usize,
    pub action_dim: usize,
    pub updates: u64,
    pub seconds: f64,
    pub updates_per_s: f64,
    /// Share of the time in each part of an update: minibatch sampling, targets, critic step,
    /// actor step, soft updates.
    pub breakdown: Vec<(String, f64)>,
}

/// Runs warm-up updates, then as many as fit in `seconds`.
pub fn bench_agent(
    algo: Algo,
    state_dim: usize,
    action_dim: usize,
    hidden: usize,
    batch: usize,
    threads: usize,
    seconds: f64,
) -> AgentBench {
    let cfg = AgentConfig {
        algo,
        hidden,
        batch,
        ..Default::default()
    };
    let mut agent = Agent::new(&cfg, state_dim, action_dim, &Device::flex());
    let mut rng = Rng::new(1);
    let n = 100_000;
    let mut replay = Replay::new(n, state_dim, action_dim);
    let draw = |rng: &mut Rng, k: usize| -> Vec<f32> {
        let mut x = vec![0.0f64; k];
        rng.fill_normal(&mut x);
        x.iter().map(|&v| v as f32).collect()
    };
    for _ in 0..n {
        let s = draw(&mut rng, state_dim);
        let a: Vec<f32> = draw(&mut rng, action_dim)
            .iter()
            .map(|x| x.tanh())
            .collect();
        let s2 = draw(&mut rng, state_dim);
        replay.push(&s, &a, 0.0, cfg.gamma as f32, &s2);
    }
    for _ in 0..20 {
        let b = replay.sample(batch, &mut rng);
        agent.update(&b, &mut rng, None);
    }
    // Each part is timed on its own; on the CPU every part has finished when it returns, so
    // the clock sees the work done.
    let mut t = [0.0f64; 5];
    let mut updates = 0u64;
    let t0 = Instant::now();
    let mut lap = Instant::now();
    let mut tick = |i: usize, t: &mut [f64; 5]| {
        t[i] += lap.elapsed().as_secs_f64();
        lap = Instant::now();
    };
    while t0.elapsed().as_secs_f64() < seconds {
        let b = replay.sample(batch, &mut rng);
        tick(0, &mut t);
        let y = agent.targets(&b, &mut rng, None);
        tick(1, &mut t);
        agent.critic_step(&b, &y);
        tick(2, &mut t);
        if agent.actor_due() {
            agent.actor_step(&b);
            tick(3, &mut t);
            agent.soft_update_targets();
            tick(4, &mut t);
        }
        updates += 1;
    }
    let secs = t0.elapsed().as_secs_f64();
    let total: f64 = t.iter().sum();
    let names = ["sample", "targets", "critic", "actor", "soft_update"];
    AgentBench {
        algo: algo.name().into(),
        threads,
        batch,
        hidden,
        state_dim,
        action_dim,
        updates,
        seconds: secs,
        updates_per_s: updates as f64 / secs,
        breakdown: names
            .iter()
            .zip(t)
            .map(|(n, x)| (n.to_string(), x / total))
            .collect(),
    }
}
