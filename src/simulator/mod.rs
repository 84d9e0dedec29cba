//! Stage 4, the user simulator: the response to a recommendation, estimated from the logged
//! (state, action) pairs nearest to it (a memory-based simulator after Zhao et al. 2019 and the
//! reference study), as an [`Environment`](crate::eval::Environment) ([`env::SimEnv`]); the
//! baselines it scores.

pub mod bench;
pub mod classifier;
pub mod config;
pub mod env;
pub mod error;
pub mod fidelity;
pub mod greedy;
pub mod memory;
pub mod policy;
pub mod run;
pub mod skips;

pub use config::SimulatorConfig;
pub use env::SimEnv;
pub use error::SimError;
pub use memory::Simulator;
