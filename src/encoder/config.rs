//! Configuration of the history encoders (the `[encoder]` table of a run config).

use serde::{Deserialize, Serialize};

/// Which autoencoder compresses the history.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Structure {
    /// An LSTM over (song vector ‖ one-hot response) of each step.
    A,
    /// Dense layers pretrained on song vectors alone; the LSTM runs over the compressed songs and
    /// the responses join after it.
    B,
}

/// How the latent state is decoded back into the window.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Decoder {
    /// A repeat-vector LSTM: the latent state is the input at every step.
    Lstm,
    /// A dense layer from the latent state to every step at once.
    Dense,
}

/// Where the networks run.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn's flex backend: pure-Rust CPU, always built.
    #[default]
    Flex,
    /// burn's wgpu backend (Vulkan, Metal, DX12); needs the `wgpu` cargo feature.
    Wgpu,
    /// burn's CUDA backend; needs the `cuda` cargo feature.
    Cuda,
}

impl Backend {
    /// The burn device, or why this build cannot make it.
    pub fn device(self) -> Result<burn::tensor::Device, String> {
        match self {
            Backend::Flex => Ok(burn::tensor::Device::flex()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => Ok(burn::tensor::Device::wgpu(Default::default())),
            #[cfg(feature = "cuda")]
            Backend::Cuda => Ok(burn::tensor::Device::cuda(0)),
            #[allow(unreachable_patterns)]
            other => Err(format!(
                "backend {other:?} needs segue built with `--features {}`",
                format!("{other:?}").to_lowercase()
            )),
        }
    }
}

/// Hyper-parameters of `segue encode`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    /// Structure A or B.
    pub structure: Structure,
    /// Steps of history (the study uses 5). Shorter histories at the start of a session are
    /// masked, not padded into the state.
    pub history: usize,
    /// Size of the latent state the agent will see.
    pub latent: usize,
    /// Hidden units of the encoder LSTM and of the decoder.
    pub hidden: usize,
    /// The decoder's kind.
    pub decoder: Decoder,
    /// Structure B: size of a compressed song.
    pub song_code: usize,
    /// Structure B: hidden units of the song autoencoder's dense layers.
    pub song_hidden: usize,
    /// Structure B: keep the pretrained song layers frozen while the history encoder trains
    /// (false: fine-tune them with it).
    pub freeze_song_layers: bool,
    /// Weight of the response cross-entropy against the song-vector MSE in the loss.
    pub response_weight: f64,
    /// Histories per minibatch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Clip gradients to this global L2 norm (0: no clipping).
    pub grad_clip: f64,
    /// Passes over the training histories at most.
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation loss (the best weights are kept).
    pub patience: usize,
    /// Structure B: epochs at most for pretraining the song layers.
    pub song_epochs: usize,
    /// Structure B: stop pretraining the song layers after this many epochs without a better
    /// validation MSE.
    pub song_patience: usize,
    /// Seed of the weights and of the minibatch order.
    pub seed: u64,
    /// Where the networks run (CPU by default).
    pub backend: Backend,
    /// Threads (0, the default: every core). On the CPU a batch's parts run on them, and the
    /// weights do not depend on how many there are (`encoder::grad`).
    pub threads: usize,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            structure: Structure::A,
            history: 5,
            latent: 96,
            hidden: 96,
            decoder: Decoder::Dense,
            song_code: 24,
            song_hidden: 64,
            freeze_song_layers: true,
            response_weight: 1.0,
            batch_size: 256,
            learning_rate: 3e-3,
            grad_clip: 1.0,
            max_epochs: 40,
            patience: 4,
            song_epochs: 500,
            song_patience: 10,
            seed: 1,
            backend: Backend::Flex,
            threads: 0,
        }
    }
}

impl EncoderConfig {
    /// Checks the values before any training starts.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("history", self.history),
            ("latent", self.latent),
            ("hidden", self.hidden),
            ("song_code", self.song_code),
            ("song_hidden", self.song_hidden),
            ("batch_size", self.batch_size),
            ("max_epochs", self.max_epochs),
            ("song_epochs", self.song_epochs),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(format!("encoder.{name} must be at least 1"));
            }
        }
        self.backend.device()?;
        if self.history > 64 {
            return Err(format!("encoder.history {} is over 64", self.history));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "encoder.learning_rate must be positive, got {}",
                self.learning_rate
            ));
        }
        if !(self.grad_clip.is_finite() && self.grad_clip >= 0.0) {
            return Err(format!(
                "encoder.grad_clip must be ≥ 0, got {}",
                self.grad_clip
            ));
        }
        if !(self.response_weight.is_finite() && self.response_weight >= 0.0) {
            return Err(format!(
                "encoder.response_weight must be ≥ 0, got {}",
                self.response_weight
            ));
        }
        Ok(())
    }
}
