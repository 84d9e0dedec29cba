//! The environment seam on a small synthetic world: the simulator and the true model replay the
//! trajectories of the code before the seam, and a custom reward moves every environment's
//! score the same way.

mod common;
use common::*;

use std::path::PathBuf;
use std::sync::OnceLock;

use segue::agent::AgentConfig;
use segue::agent::train::Setup;
use segue::data::Split;
use segue::eval::world::World;
use segue::eval::{Environment, Evaluation, Observation, Policy, Reward, play};
use segue::rng::Rng;
use segue::simulator::policy::RandomPolicy;
use segue::simulator::{SimEnv, SimulatorConfig};

/// The world, sample and encoder every test here reads (built once).
struct Fixture {
    _dir: tempfile::TempDir,
    world: PathBuf,
    sample: PathBuf,
    encoder: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let args = [
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
        ];
        let (world, sample, _) = synthetic_sample(dir.path(), &args);
        let encoder = small_encoder(dir.path(), &sample, 2);
        Fixture {
            _dir: dir,
            world,
            sample,
            encoder,
        }
    })
}

/// A random policy that also hashes everything it is shown (FNV-1a over each episode's
/// history and exclusions, step by step): two runs with the same hash saw the same
/// trajectories.
struct Recording {
    inner: RandomPolicy,
    hash: u64,
}

impl Recording {
    fn new(tracks: usize) -> Recording {
        Recording {
            inner: RandomPolicy {
                tracks: tracks as u32,
            },
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn mix(&mut self, x: u64) {
        for b in x.to_le_bytes() {
            self.hash = (self.hash ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Policy for Recording {
    fn name(&self) -> String {
        "random".into()
    }
    fn act(&mut self, obs: &[Observation], rng: &mut Rng) -> Vec<u32> {
        for o in obs {
            for &(t, l) in o.history {
                self.mix(((t as u64) << 8) | l as u64);
            }
            for &t in o.excluded {
                self.mix(t as u64);
            }
        }
        self.inner.act(obs, rng)
    }
}

/// The seeded random policy from 30 held-out starts (seed 7) in `env`: its evaluation and the
/// hash of what it saw.
fn played(env: &mut dyn Environment, setup: &Setup) -> (Evaluation, u64) {
    let sessions = setup.sessions(Split::Test, 30, 7).unwrap();
    let mut p = Recording::new(setup.sample.tracks.len());
    let e = play(env, &mut p, &sessions, 7, &setup.encoder.songs).unwrap();
    (e, p.hash)
}

fn setup(f: &Fixture) -> Setup {
    let sim = SimulatorConfig::default();
    Setup::load(&f.sample, &f.encoder, &sim, &AgentConfig::default()).unwrap()
}

/// What the code before the seam saw and scored (see the test below).
const OLD_SIM_HASH: u64 = 0xeef1_2c3e_0d76_d898;
const OLD_SIM_MEAN: f64 = 4.866666666666666;
const OLD_TRUE_HASH: u64 = 0x2610_3bf9_a15d_bb7c;
const OLD_TRUE_MEAN: f64 = 4.875609178848338;

#[test]
fn the_environments_replay_the_trajectories_of_the_code_before_the_seam() {
    let f = fixture();
    let setup = setup(f);
    let world = World::load(&f.world).unwrap();
    let mut sim = SimEnv::new(&setup.test_sim, &setup.encoder, &setup.sample);
    let (e, hash) = played(&mut sim, &setup);
    let mut truth = world
        .env(&setup.encoder, &setup.sample, &setup.test_sim.cfg)
        .unwrap();
    let (t, true_hash) = played(&mut truth, &setup);
    // Recorded with the same policy, starts and seeds through `simulator::episode::evaluate`
    // and `simulator::truth::true_evaluate` at commit 69907be, before the environment seam
    // replaced them (the histories' hash, and the mean score).
    assert_eq!(
        (hash, e.mean),
        (OLD_SIM_HASH, OLD_SIM_MEAN),
        "held-out simulator"
    );
    assert_eq!(
        (true_hash, t.mean),
        (OLD_TRUE_HASH, OLD_TRUE_MEAN),
        "true model"
    );
}

#[test]
fn a_custom_reward_moves_every_environment_s_score_the_same_way() {
    let f = fixture();
    let setup = setup(f);
    let world = World::load(&f.world).unwrap();
    let cfg = &setup.test_sim.cfg;
    let (enc, sample) = (&setup.encoder, &setup.sample);
    let sim = |r: Reward| SimEnv::new(&setup.test_sim, enc, sample).with_reward(r);
    let truth = |r: Reward| world.env(enc, sample, cfg).unwrap().with_reward(r);
    let not_skipped = Reward::new([0.0, 0.0, 0.0, 1.0]);
    let doubled = Reward::new([0.0, 0.0, 0.0, 2.0]);
    let every = Reward::new([1.0; 4]);
    let horizon = cfg.horizon as f64;
    let envs: [(&str, [Box<dyn Environment>; 3]); 2] = [
        (
            "simulator",
            [
                Box::new(sim(not_skipped)),
                Box::new(sim(doubled)),
                Box::new(sim(every)),
            ],
        ),
        (
            "true model",
            [
                Box::new(truth(not_skipped)),
                Box::new(truth(doubled)),
                Box::new(truth(every)),
            ],
        ),
    ];
    for (name, [mut a, mut b, mut c]) in envs {
        let (base, h) = played(a.as_mut(), &setup);
        let (twice, h2) = played(b.as_mut(), &setup);
        let (all, h3) = played(c.as_mut(), &setup);
        // The reward moves no draw: the same trajectories under each.
        assert_eq!((h, h), (h2, h3), "{name}");
        assert!(
            base.mean > 0.5 && base.mean < horizon - 0.5,
            "{name}: {}",
            base.mean
        );
        for i in 0..base.scores.len() {
            assert_eq!(twice.scores[i], 2.0 * base.scores[i], "{name}, episode {i}");
            // Every level paid 1: each episode scores its horizon.
            assert!(
                (all.scores[i] - horizon).abs() < 1e-9,
                "{name}: {}",
                all.scores[i]
            );
        }
    }
}
