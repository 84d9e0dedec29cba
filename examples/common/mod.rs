//! What the examples that score the training simulator's skip model under a synthetic world's
//! true model share: their first four arguments (SAMPLE_DIR ENCODER_DIR WORLD_DIR CONFIG) and
//! the training simulator built from them.
#![allow(dead_code)] // each example reads the fields it needs
use segue::data::{Sample, Split};
use segue::encoder::Encoder;
use segue::eval::world::World;
use segue::pipeline::RunConfig;
use segue::simulator::SimulatorConfig;
use segue::simulator::memory::{Simulator, SkipModel, Transition, encode_transitions, transitions};
use std::path::Path;

pub struct Loaded {
    pub sample: Sample,
    pub enc: Encoder,
    pub world: World,
    /// The config's `[simulator]` table.
    pub cfg: SimulatorConfig,
    /// The training split's transitions.
    pub trans: Vec<Transition>,
    /// The training simulator and its skip model (the config must set `metric = "learned"`).
    pub sim: Simulator,
    pub skip_model: SkipModel,
}

/// The command line, when it holds `counts` arguments (the program's name included), or
/// else `usage` on standard error and exit status 2.
pub fn args(usage: &str, counts: std::ops::RangeInclusive<usize>) -> Vec<String> {
    let a: Vec<String> = std::env::args().collect();
    if !counts.contains(&a.len()) {
        eprintln!("usage: {usage}");
        std::process::exit(2);
    }
    a
}

/// Loads `a[1..=4]` and builds the training simulator.
pub fn load(a: &[String]) -> Loaded {
    let sample = segue::data::load_sample_dir(Path::new(&a[1]))
        .unwrap()
        .sample;
    let enc = Encoder::load(Path::new(&a[2])).unwrap();
    let world = World::load(Path::new(&a[3])).unwrap();
    let text = std::fs::read_to_string(&a[4]).unwrap();
    let cfg = toml::from_str::<RunConfig>(&text).unwrap().simulator;
    let trans = transitions(&sample, Split::Train, enc.model.steps);
    let (states, actions) = encode_transitions(&enc, &trans);
    let sim = Simulator::from_encoded(&trans, &states, &actions, &enc, &cfg);
    let skip_model = sim
        .skip_model()
        .expect("the config must set metric = \"learned\"");
    Loaded {
        sample,
        enc,
        world,
        cfg,
        trans,
        sim,
        skip_model,
    }
}
