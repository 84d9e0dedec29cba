//! What can stop `segue eval`: its inputs (runs, sample, encoder, world), their disagreement,
//! or its options.

use std::path::PathBuf;

use crate::agent::AgentError;
use crate::simulator::SimError;

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error("{0}")]
    Options(String),
    #[error(
        "{} was trained on {} with the encoder {}, not {} and {}",
        run.display(), trained_sample.display(), trained_encoder.display(), sample.display(),
        encoder.display()
    )]
    OtherInputs {
        run: PathBuf,
        trained_sample: PathBuf,
        trained_encoder: PathBuf,
        sample: PathBuf,
        encoder: PathBuf,
    },
}

impl From<crate::eval::env::EnvError> for EvalError {
    fn from(e: crate::eval::env::EnvError) -> EvalError {
        EvalError::Sim(e.into())
    }
}
