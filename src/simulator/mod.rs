//! Stage 4, the user simulator: the response to a recommendation, estimated from the logged
//! (state, action) pairs nearest to it (a memory-based simulator after Zhao et al. 2019 and the
//! reference study); episodes of 15 recommendations from real starting histories; the `Policy`
//! trait, the baselines, and the evaluator that scores any policy.

pub mod bench;
pub mod classifier;
pub mod config;
pub mod episode;
pub mod fidelity;
pub mod memory;
pub mod policy;
pub mod run;
pub mod skips;
pub mod truth;

pub use config::SimulatorConfig;
pub use memory::Simulator;
pub use policy::{Observation, Policy};
