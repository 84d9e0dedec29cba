//! What can stop the simulator stage: its inputs (the sample, the encoder run, a world), its
//! settings, or episodes that cannot start.

use std::path::{Path, PathBuf};

use crate::data::Sample;
use crate::data::error::DataError;
use crate::encoder::Encoder;
use crate::encoder::train::EncodeError;
use crate::eval::env::EnvError;

use super::config::SimulatorConfig;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Encoder(#[from] EncodeError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("invalid simulator config: {0}")]
    Config(String),
    #[error("the encoder in {} was trained on another sample than {}", encoder.display(), sample.display())]
    OtherSample { encoder: PathBuf, sample: PathBuf },
    #[error("the {split} split of {} has no transitions", sample.display())]
    NoTransitions {
        sample: PathBuf,
        split: &'static str,
    },
    #[error("no {split} session of {} has {steps} plays to start an episode", sample.display())]
    NoStarts {
        sample: PathBuf,
        split: &'static str,
        steps: usize,
    },
    /// An episode could not start or a world could not answer (the world's folder named).
    #[error("{}{source}", at.as_ref().map_or(String::new(), |p| format!("{}: ", p.display())))]
    Env {
        at: Option<PathBuf>,
        source: EnvError,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<EnvError> for SimError {
    fn from(source: EnvError) -> SimError {
        SimError::Env { at: None, source }
    }
}

/// The encoder run in `encoder_dir` and the sample in `sample_dir` it was trained on, checked
/// against each other and against the simulator settings `cfg`.
pub fn load_inputs(
    sample_dir: &Path,
    encoder_dir: &Path,
    cfg: &SimulatorConfig,
) -> Result<(Encoder, Sample), SimError> {
    let encoder = Encoder::load(encoder_dir)?;
    super::memory::check_recent(cfg, &encoder).map_err(SimError::Config)?;
    let sample = crate::data::load_sample_dir(sample_dir)?.sample;
    if encoder.songs.values.len() != sample.tracks.len() * encoder.songs.dim {
        return Err(SimError::OtherSample {
            encoder: encoder_dir.to_path_buf(),
            sample: sample_dir.to_path_buf(),
        });
    }
    Ok((encoder, sample))
}
