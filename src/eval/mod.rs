//! Stage 6, evaluation: the environment seam and the one evaluator.
//!
//! An [`Environment`] plays batched episodes (the simulator fitted to the logs, or a synthetic
//! world's true model through the [`world`] adaptor); a [`Policy`] chooses one track per
//! episode; [`play`](play::play) is the one loop between them; [`run`] scores every contender
//! (baselines, learned agents, references) over evaluation seeds into one [`report`] that the
//! CLI table, the run reports' markdown and JSON all render from.

pub mod env;
pub mod episodes;
pub mod error;
pub mod owned;
pub mod play;
pub mod policy;
pub mod report;
pub mod reward;
pub mod run;
pub mod world;

pub use env::{Environment, Observations, Step};
pub use play::{Evaluation, play};
pub use policy::{Observation, Policy};
pub use reward::Reward;
