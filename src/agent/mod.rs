//! Stage 5, the agent: DDPG (Lillicrap et al. 2016) and TD3 (Fujimoto et al. 2018) with a
//! continuous action in song space, mapped to real tracks by nearest neighbour or by
//! Wolpertinger re-ranking (Dulac-Arnold et al. 2015); trained in the training split's
//! simulator, evaluated in the held-out split's.

pub mod algo;
pub mod bench;
pub mod config;
pub mod ddpg;
pub mod error;
pub mod export;
pub mod grad;
pub mod model;
pub mod nets;
pub mod policy;
pub mod replay;
pub mod td3;
pub mod train;

pub use config::{AgentConfig, Algo, EncoderMode, NoiseKind};
pub use error::AgentError;
pub use nets::Agent;
