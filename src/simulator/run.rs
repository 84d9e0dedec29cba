//! `segue simulate`: builds the simulator of the training split to measure its fidelity on the
//! held-out split, builds the held-out split's simulator, and scores the baselines in it.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::Split;
use crate::encoder::Encoder;

use super::classifier::SkipClassifier;
use super::config::SimulatorConfig;
use super::env::SimEnv;
use super::error::SimError;
use super::fidelity::{Fidelity, fidelity};
use super::greedy::{GreedyCandidates, GreedyPolicy, SkipGreedy};
use super::memory::{Simulator, SkipModel, Transition, encode_transitions, transitions};
use super::policy::{ContentPolicy, LoggedPolicy, PopularityPolicy, RandomPolicy};
use crate::eval::episodes::start_sessions;
use crate::eval::world::World;
use crate::eval::{Evaluation, Policy, play};

/// What `segue simulate` reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SimulateReport {
    pub config: SimulatorConfig,
    /// Keys in the training-split and held-out simulators.
    pub train_keys: usize,
    pub test_keys: usize,
    /// Not-skip rate of the held-out simulator's keys: a random policy should score about
    /// `horizon` × this.
    pub test_not_skip_rate: f64,
    /// The training simulator's predictions on the held-out transitions.
    pub fidelity: Fidelity,
    /// The greedy baseline's skip classifier (trained on the training split) on the same
    /// held-out transitions.
    pub classifier_fidelity: Fidelity,
    /// With a synthetic world: its true model on the same held-out transitions, the best
    /// fidelity any simulator could reach there.
    #[serde(default)]
    pub true_fidelity: Option<Fidelity>,
    /// Baselines in the held-out simulator, from held-out starting histories.
    pub baselines: Vec<Evaluation>,
    pub seconds: f64,
}

/// Runs the simulator stage for the sample in `sample_dir` and the encoder run `encoder_dir`;
/// `world`: the folder of the synthetic world the sample was drawn from, whose true model is
/// scored on the same held-out transitions.
pub fn run_simulate(
    sample_dir: &Path,
    encoder_dir: &Path,
    cfg: &SimulatorConfig,
    world: Option<&Path>,
) -> Result<SimulateReport, SimError> {
    cfg.validate().map_err(SimError::Config)?;
    let t0 = std::time::Instant::now();
    // The world is loaded first, so that a bad folder fails before the work.
    let world_dir = world;
    let world = match world_dir {
        Some(w) => Some(World::load(w).map_err(|source| SimError::Env {
            at: Some(w.to_path_buf()),
            source,
        })?),
        None => None,
    };
    let (encoder, sample) = super::error::load_inputs(sample_dir, encoder_dir, cfg)?;
    let sample = &sample;
    // The training transitions are encoded once: they are the training simulator's keys, the
    // logged policy's index and the skip classifier's data.
    let train_trans = transitions(sample, Split::Train, encoder.model.steps);
    let (train_states, train_actions) = encode_transitions(&encoder, &train_trans);
    let train_sim =
        Simulator::from_encoded(&train_trans, &train_states, &train_actions, &encoder, cfg);
    // Fidelity: the training simulator against held-out transitions it never indexed.
    let test_trans = transitions(sample, Split::Test, encoder.model.steps);
    let (states, actions) = encode_transitions(&encoder, &test_trans);
    let fid = train_sim.fidelity_on(&encoder.songs, &test_trans, &states, &actions);
    let y: Vec<bool> = test_trans.iter().map(|t| t.level == 3).collect();

    // Baselines: evaluated in the held-out simulator, from held-out starts.
    let test_sim = Simulator::build_like(sample, Split::Test, &encoder, &train_sim);
    let start = start_sessions(sample, Split::Test, cfg.start_steps, cfg.episodes, cfg.seed);
    if start.is_empty() {
        return Err(SimError::NoStarts {
            sample: sample_dir.to_path_buf(),
            split: "test",
            steps: cfg.start_steps,
        });
    }
    let (clf, mut policies) = baselines(
        sample.tracks.len(),
        &encoder,
        &train_trans,
        train_states,
        &train_actions,
        train_sim.skip_model(),
        cfg.seed,
    );
    let clf_p = clf.predict(&states, &actions);
    let clf_fid = fidelity(&clf_p, &vec![true; clf_p.len()], &y, train_sim.base_rate[3]);
    let true_fid = match &world {
        Some(w) => {
            let p = w
                .true_probabilities(sample, Split::Test)
                .map_err(|source| SimError::Env {
                    at: world_dir.map(Path::to_path_buf),
                    source,
                })?;
            assert_eq!(p.len(), y.len(), "one probability per held-out transition");
            Some(fidelity(
                &p,
                &vec![true; p.len()],
                &y,
                train_sim.base_rate[3],
            ))
        }
        None => None,
    };
    let mut env = SimEnv::new(&test_sim, &encoder, sample);
    let baselines = policies
        .iter_mut()
        .map(|p| play(&mut env, p.as_mut(), &start, cfg.seed, &encoder.songs))
        .collect::<Result<_, _>>()
        .map_err(SimError::from)?;
    Ok(SimulateReport {
        config: cfg.clone(),
        train_keys: train_sim.len(),
        test_keys: test_sim.len(),
        test_not_skip_rate: test_sim.base_rate[3],
        fidelity: fid,
        classifier_fidelity: clf_fid,
        true_fidelity: true_fid,
        baselines,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The greedy baseline's candidates: this many most played training tracks, and this many
/// tracks nearest to the history's anchor.
pub const GREEDY_POPULAR: usize = 200;
pub const GREEDY_NEIGHBOURS: usize = 50;

/// The baselines, in report order: random, popularity, logged, content, the one-step greedy
/// policy, whose skip classifier (trained on the training transitions) is returned too, and
/// skip-greedy when the training simulator has a learned `skip_model` (the one agents re-rank
/// with), over the same candidates as greedy.
pub fn baselines(
    tracks: usize,
    encoder: &Encoder,
    train_trans: &[Transition],
    train_states: Vec<f32>,
    train_actions: &[f32],
    skip_model: Option<SkipModel>,
    seed: u64,
) -> (SkipClassifier, Vec<Box<dyn Policy + Send>>) {
    let train_y: Vec<bool> = train_trans.iter().map(|t| t.level == 3).collect();
    let clf = SkipClassifier::train(
        &train_states,
        encoder.model.latent,
        train_actions,
        encoder.songs.dim,
        &train_y,
        64,
        3,
        seed,
    );
    let popularity = PopularityPolicy::new(train_trans, tracks);
    let popular: Vec<u32> = popularity
        .ranked
        .iter()
        .take(GREEDY_POPULAR)
        .copied()
        .collect();
    // Greedy and skip-greedy choose among the same candidates.
    let candidates = Arc::new(GreedyCandidates::new(
        popular,
        GREEDY_NEIGHBOURS,
        &encoder.songs,
    ));
    let greedy = GreedyPolicy {
        clf: clf.clone(),
        candidates: candidates.clone(),
    };
    let mut policies: Vec<Box<dyn Policy + Send>> = vec![
        Box::new(RandomPolicy {
            tracks: tracks as u32,
        }),
        Box::new(popularity),
        Box::new(LoggedPolicy::new(
            train_states,
            encoder.model.latent,
            train_trans,
        )),
        Box::new(ContentPolicy::new(&encoder.songs)),
        Box::new(greedy),
    ];
    if let Some(model) = skip_model {
        policies.push(Box::new(SkipGreedy { model, candidates }));
    }
    (clf, policies)
}
