//! Stage 3, history encoders: autoencoders that compress the last steps of a session (each a song
//! and the user's response) into the latent state the agent acts on, after the two structures of
//! the reference study (A: an LSTM over song ‖ response; B: song layers pretrained alone, the
//! response joined after the recurrent part), with masking for histories shorter than the window.

pub mod bench;
pub mod config;
pub mod data;
pub mod grad;
pub mod infer;
pub mod model;
pub mod train;

pub use config::{EncoderConfig, Structure};
pub use train::{EncodeOptions, EncodeReport, Encoder, Outcome, run_encode};
