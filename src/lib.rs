//! segue: next-song recommendation in listening sessions with reinforcement learning.
//!
//! The crate follows the pipeline: [`data`] ingests and samples session logs; later stages
//! (song space, history encoders, simulator, agent, evaluation, serving) build on its samples.
//! [`synth`] generates worlds with a known user model to test every stage against the truth.

pub mod agent;
pub mod config;
pub mod data;
pub mod encoder;
pub mod eval;
pub mod nn;
pub mod npz;
pub mod output;
pub mod pipeline;
pub mod plot;
pub mod rng;
pub mod serve;
pub mod simd;
pub mod simulator;
pub mod songs;
pub mod stats;
pub mod synth;
pub mod workers;
