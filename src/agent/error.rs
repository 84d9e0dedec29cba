//! What can stop the agent stage: its inputs and the simulators built from them, its settings,
//! its run folder, and checkpoints or weights that cannot be read.

use std::path::PathBuf;

use crate::encoder::train::EncodeError;
use crate::output::FolderError;
use crate::simulator::SimError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Encoder(#[from] EncodeError),
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error("invalid agent config: {0}")]
    Config(String),
    /// A file of a run folder (config, checkpoint, weights) that cannot be read as one.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// A safetensors file that cannot be read (the reader's message names the file).
    #[error("{0}")]
    Store(String),
}

/// A [`AgentError::File`] error about `path`.
pub(crate) fn bad_file(path: &std::path::Path) -> impl Fn(String) -> AgentError + '_ {
    move |message| AgentError::File {
        path: path.to_path_buf(),
        message,
    }
}

impl From<crate::eval::env::EnvError> for AgentError {
    fn from(e: crate::eval::env::EnvError) -> AgentError {
        AgentError::Sim(e.into())
    }
}
