//! segue: next-song recommendation in listening sessions with reinforcement learning.
//!
//! The crate follows the pipeline: [`data`] ingests and samples session logs; later stages
//! (song space, history encoders, simulator, agent, evaluation, serving) build on its samples.

pub mod data;
pub mod output;
