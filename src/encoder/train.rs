//! `segue encode`: trains a history autoencoder on a sample's training split with early
//! stopping on the validation split, checkpoints every epoch (resumable exactly), and measures
//! the held-out test split.
//!
//! A run folder holds `config.json` (written first), `metrics.jsonl` (one line per epoch),
//! `checkpoint.safetensors` (weights, best weights, Adam moments, and the loop's position in its
//! metadata), then `weights.safetensors` (the best weights, with the config in the metadata),
//! `report.json` and `loss.png`. Each file is written to a temporary name and renamed.

use crate::output::{prepare_folder, record_config, write_json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::config::{Backend, EncoderConfig, Structure};
use super::data::{
    Histories, InputTransform, LEVELS, SongInputs, song_batch, song_rows, split_tracks,
};
use super::infer::Inference;
use super::model::{Errors, HistoryAutoencoder, SONG_PREFIX};
use crate::data::Split;
use crate::nn::backprop::Plain;
use crate::nn::store;
use crate::nn::{Adam, Params, to_vec};
use crate::rng::Rng;
use crate::songs::space::{self, SongsConfig};

/// Errors of the encoder stage.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{0}")]
    Data(#[from] crate::data::error::DataError),
    #[error("invalid encoder config: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Folder(#[from] crate::output::FolderError),
    #[error("{0}")]
    Run(String),
}

type Result<T> = std::result::Result<T, EncodeError>;

/// Maps an I/O error on `path` into the stage's error.
pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EncodeError + '_ {
    move |source| EncodeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What `config.json` records: everything that determines the run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    pub segue_version: String,
    pub sample: PathBuf,
    /// The song space the histories are made of: relative paths are inside the run folder.
    pub songs: PathBuf,
    pub encoder: EncoderConfig,
    pub input_transform: InputTransform,
    pub song_dim: usize,
}

/// Training phases: structure B first pretrains its song layers.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    SongLayers,
    History,
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub phase: Phase,
    pub epoch: usize,
    pub train_loss: f64,
    pub valid_loss: f64,
    /// Training examples (windows or songs) per second in this epoch, validation excluded.
    pub examples_per_s: f64,
}

/// Where the training loop stands; saved in the checkpoint's metadata.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct LoopState {
    phase: Phase,
    /// The next epoch to run in `phase`.
    epoch: usize,
    best_loss: f64,
    best_epoch: usize,
    bad_epochs: usize,
    adam_step: u64,
    history: Vec<EpochRecord>,
}

/// Held-out figures of a trained encoder.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TestMetrics {
    pub windows: usize,
    pub steps: u64,
    /// MSE over every reconstructed value of a step (song features and the 4 response
    /// probabilities against the one-hot truth).
    pub total_mse: f64,
    pub song_mse: f64,
    pub response_mse: f64,
    pub response_accuracy: f64,
    pub response_cross_entropy: f64,
    /// Baseline: song MSE of always predicting the training split's mean song.
    pub mean_song_mse: f64,
    /// song_mse / mean_song_mse (1 − R²).
    pub relative_song_mse: f64,
    /// Baseline: accuracy of always predicting the training split's most frequent level.
    pub majority_accuracy: f64,
    /// Structure B: reconstruction MSE of the pretrained song layers on the test split's tracks.
    pub song_layers_mse: Option<f64>,
}

/// What `segue encode` reports (also `report.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EncodeReport {
    pub structure: Structure,
    pub windows: BTreeMap<String, usize>,
    pub parameters: usize,
    pub epochs: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub train_seconds: f64,
    /// Training windows per second over the history phase (validation excluded).
    pub sequences_per_s: f64,
    pub test: TestMetrics,
}

/// How a call of [`run_encode`] ended.
#[derive(Debug)]
pub enum Outcome {
    Finished(Box<EncodeReport>),
    /// Stopped after `stop_after` epochs; `--resume` continues.
    Paused {
        epochs_done: usize,
    },
}

/// Options of one invocation (not part of the run's config).
#[derive(Clone, Debug, Default)]
pub struct EncodeOptions {
    /// Replace an existing run folder.
    pub force: bool,
    /// Continue the run in the folder from its checkpoint.
    pub resume: bool,
    /// Stop after this many epochs in this invocation (the checkpoint allows resuming).
    pub stop_after: Option<usize>,
    pub progress: bool,
}

/// Everything a training loop needs.
struct Ctx {
    device: Device,
    cfg: EncoderConfig,
    songs: SongInputs,
    model: HistoryAutoencoder,
    train: Histories,
    valid: Histories,
    test: Histories,
    train_tracks: Vec<u32>,
    valid_tracks: Vec<u32>,
    test_tracks: Vec<u32>,
    /// `[1, dim]`: 1 / variance of each song feature over the training split's plays.
    song_scale: Tensor<2>,
    /// The same as plain values.
    scale: Vec<f32>,
}

pub mod files {
    pub const CONFIG: &str = "config.json";
    pub const METRICS: &str = "metrics.jsonl";
    pub const CHECKPOINT: &str = "checkpoint.safetensors";
    pub const WEIGHTS: &str = "weights.safetensors";
    pub const REPORT: &str = "report.json";
    pub const PLOT: &str = "loss.png";
    pub const SONGS: &str = "songs";
}

/// Trains (or resumes) an encoder run in `out`.
///
/// `songs`: a song space folder from `segue songs`; None builds one with `songs_cfg` into
/// `out/songs`.
pub fn run_encode(
    sample_dir: &Path,
    songs: Option<&Path>,
    songs_cfg: &SongsConfig,
    cfg: &EncoderConfig,
    out: &Path,
    opts: &EncodeOptions,
) -> Result<Outcome> {
    cfg.validate().map_err(EncodeError::Config)?;
    prepare_folder(out, opts.force, opts.resume, files::CHECKPOINT)?;
    // A song space built into the run folder is recorded relative to it, so the run folder
    // can move; one given with --songs is recorded as an absolute path.
    let (songs_dir, songs_recorded) = match songs {
        Some(d) => {
            let abs = std::fs::canonicalize(d).map_err(io(d))?;
            (abs.clone(), abs)
        }
        None => {
            let d = out.join(files::SONGS);
            if !d.join("songs.json").is_file() {
                space::run_songs(sample_dir, songs_cfg, &d, true)?;
            }
            (d, PathBuf::from(files::SONGS))
        }
    };
    let (_, song_space) = space::load(&songs_dir)?;
    let s = crate::data::load_sample_dir(sample_dir)?;
    if song_space.len() != s.sample.tracks.len() {
        return Err(EncodeError::Run(format!(
            "{} has {} tracks but the sample {} has {}: it was built from another sample",
            songs_dir.display(),
            song_space.len(),
            sample_dir.display(),
            s.sample.tracks.len()
        )));
    }
    let songs = SongInputs::new(&song_space);
    let run_cfg = RunConfig {
        segue_version: env!("CARGO_PKG_VERSION").into(),
        sample: sample_dir.to_path_buf(),
        songs: songs_recorded,
        encoder: cfg.clone(),
        input_transform: songs.transform,
        song_dim: songs.dim,
    };
    record_config(&out.join(files::CONFIG), &run_cfg, opts.resume)?;
    let device = cfg.backend.device().map_err(EncodeError::Config)?;
    let mut params = Params::new(&device);
    let model = HistoryAutoencoder::new(cfg, songs.dim, &mut params);
    let sample = &s.sample;
    let train = Histories::from_split(sample, Split::Train, cfg.history);
    let scale = inverse_variance(&train, &songs);
    let dim = songs.dim;
    let ctx = Ctx {
        song_scale: Tensor::from_data(TensorData::new(scale.clone(), [1, dim]), &device),
        scale,
        device: device.clone(),
        cfg: cfg.clone(),
        model,
        train,
        valid: Histories::from_split(sample, Split::Validation, cfg.history),
        test: Histories::from_split(sample, Split::Test, cfg.history),
        train_tracks: split_tracks(sample, Split::Train),
        valid_tracks: split_tracks(sample, Split::Validation),
        test_tracks: split_tracks(sample, Split::Test),
        songs,
    };
    for (name, h) in [("train", &ctx.train), ("validation", &ctx.valid)] {
        if h.is_empty() {
            return Err(EncodeError::Run(format!(
                "the {name} split of {} is empty",
                sample_dir.display()
            )));
        }
    }
    train_loop(&ctx, params, out, opts)
}

/// The initial loop state: structure B starts by pretraining its song layers.
fn fresh_state(cfg: &EncoderConfig) -> LoopState {
    LoopState {
        phase: match cfg.structure {
            Structure::A => Phase::History,
            Structure::B => Phase::SongLayers,
        },
        epoch: 0,
        best_loss: f64::INFINITY,
        best_epoch: 0,
        bad_epochs: 0,
        adam_step: 0,
        history: Vec::new(),
    }
}

/// Sets which parameters train in `phase`.
fn set_phase(params: &mut Params, cfg: &EncoderConfig, phase: Phase) {
    match phase {
        Phase::SongLayers => {
            params.trainable.fill(false);
            params.set_trainable(SONG_PREFIX, true);
        }
        Phase::History => {
            params.trainable.fill(true);
            params.set_trainable(SONG_PREFIX, !cfg.freeze_song_layers);
        }
    }
}

fn train_loop(ctx: &Ctx, mut params: Params, out: &Path, opts: &EncodeOptions) -> Result<Outcome> {
    let cfg = &ctx.cfg;
    let ckpt_path = out.join(files::CHECKPOINT);
    let mut state = fresh_state(cfg);
    let mut adam = Adam::new(&params, cfg.learning_rate);
    adam.clip_norm = cfg.grad_clip;
    let mut best = params.values.clone();
    if opts.resume {
        (state, best) = load_checkpoint(&ckpt_path, &mut params, &mut adam)?;
    }
    let mut epochs_run = 0usize;
    let t_start = Instant::now();
    loop {
        set_phase(&mut params, cfg, state.phase);
        let (max_epochs, patience) = match state.phase {
            Phase::SongLayers => (cfg.song_epochs, cfg.song_patience),
            Phase::History => (cfg.max_epochs, cfg.patience),
        };
        if state.epoch >= max_epochs || state.bad_epochs >= patience.max(1) {
            // The phase is over: continue from its best weights.
            params.values = best.clone();
            if state.phase == Phase::SongLayers {
                state.phase = Phase::History;
                state.epoch = 0;
                state.best_loss = f64::INFINITY;
                state.bad_epochs = 0;
                adam = Adam::new(&params, cfg.learning_rate);
                adam.clip_norm = cfg.grad_clip;
                continue;
            }
            break;
        }
        if opts.stop_after.is_some_and(|n| epochs_run >= n) {
            return Ok(Outcome::Paused {
                epochs_done: state.history.len(),
            });
        }
        let rec = run_epoch(ctx, &mut params, &mut adam, &state, opts.progress);
        epochs_run += 1;
        if rec.valid_loss < state.best_loss {
            state.best_loss = rec.valid_loss;
            state.best_epoch = state.epoch;
            state.bad_epochs = 0;
            best = params.values.clone();
        } else {
            state.bad_epochs += 1;
        }
        state.epoch += 1;
        state.adam_step = adam.step;
        state.history.push(rec);
        save_checkpoint(&ckpt_path, &params, &best, &adam, &state)?;
        let lines: String = state
            .history
            .iter()
            .map(|r| serde_json::to_string(r).expect("records serialise") + "\n")
            .collect();
        let metrics = out.join(files::METRICS);
        crate::output::write_atomic(&metrics, lines.as_bytes()).map_err(io(&metrics))?;
    }
    let train_seconds = t_start.elapsed().as_secs_f64();
    finish(ctx, &params, &state, out, train_seconds)
}

/// One pass over the phase's training data, then the validation loss.
fn run_epoch(
    ctx: &Ctx,
    params: &mut Params,
    adam: &mut Adam,
    state: &LoopState,
    progress: bool,
) -> EpochRecord {
    let cfg = &ctx.cfg;
    let n = match state.phase {
        Phase::SongLayers => ctx.train_tracks.len(),
        Phase::History => ctx.train.len(),
    };
    // The minibatch order of an epoch depends only on the seed, the phase and the epoch, so a
    // resumed run sees the same batches as an uninterrupted one.
    let mut rng = Rng::stream(
        cfg.seed,
        &[0x004f_5244_4552, state.phase as u64, state.epoch as u64],
    );
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let bar = if progress {
        indicatif::ProgressBar::new(n as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let style = indicatif::ProgressStyle::with_template(
        "{msg:<24} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    let phase = match state.phase {
        Phase::SongLayers => "song layers",
        Phase::History => "history",
    };
    bar.set_message(format!("{phase} epoch {}", state.epoch + 1));
    let t0 = Instant::now();
    let (mut loss_sum, mut weight) = (0.0f64, 0.0f64);
    // On the CPU both phases train on plain vectors (`encoder::grad`); on a GPU backend, on burn.
    let on_cpu = cfg.backend == Backend::Flex;
    let mut plain = on_cpu.then(|| {
        let net = Plain::of(params);
        let grads = net.zero_grads();
        (net, grads, adam.moments())
    });
    for chunk in order.chunks(cfg.batch_size) {
        let value = match (&mut plain, state.phase) {
            (Some((net, grads, moments)), phase) => {
                grads.zero();
                let loss = match phase {
                    Phase::History => {
                        let b = ctx.train.rows(chunk, &ctx.songs);
                        ctx.model
                            .loss_grad(net, grads, &b, cfg.response_weight, &ctx.scale)
                    }
                    Phase::SongLayers => {
                        let tracks: Vec<u32> = chunk.iter().map(|&i| ctx.train_tracks[i]).collect();
                        let x = song_rows(&tracks, &ctx.songs);
                        let song = ctx.model.song.as_ref().expect("structure B");
                        song.loss_plain(net, &x, &ctx.scale, Some(grads))
                    }
                };
                adam.step_plain(net, grads, moments);
                loss
            }
            (None, Phase::SongLayers) => {
                let leaves = params.leaves();
                let tracks: Vec<u32> = chunk.iter().map(|&i| ctx.train_tracks[i]).collect();
                let x = song_batch(&tracks, &ctx.songs, &ctx.device);
                let song = ctx.model.song.as_ref().expect("structure B");
                let loss = song.loss(&leaves, x, &ctx.song_scale);
                let value = to_vec(&loss)[0] as f64;
                adam.update(params, &leaves, &loss);
                value
            }
            (None, Phase::History) => {
                let leaves = params.leaves();
                let b = ctx.train.batch(chunk, &ctx.songs, &ctx.device);
                let loss = ctx
                    .model
                    .loss(&leaves, &b, cfg.response_weight, &ctx.song_scale);
                let value = to_vec(&loss)[0] as f64;
                adam.update(params, &leaves, &loss);
                value
            }
        };
        loss_sum += value * chunk.len() as f64;
        weight += chunk.len() as f64;
        bar.inc(chunk.len() as u64);
    }
    // The validation reads the weights as plain vectors: the epoch's own on the CPU.
    let net = match plain {
        Some((net, _, moments)) => {
            net.store(params);
            adam.set_moments(&moments, params);
            net
        }
        None => Plain::of(params),
    };
    let seconds = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let valid_loss = match state.phase {
        Phase::SongLayers => song_layers_mse(ctx, &net, &ctx.valid_tracks),
        Phase::History => history_loss(ctx, &net, &ctx.valid),
    };
    EpochRecord {
        phase: state.phase,
        epoch: state.epoch,
        train_loss: loss_sum / weight.max(1.0),
        valid_loss,
        examples_per_s: n as f64 / seconds.max(1e-9),
    }
}

const EVAL_BATCH: usize = 2048;

/// The training loss over every window of `h` (no gradients), its chunks on the pool's threads
/// and summed in order.
fn history_loss(ctx: &Ctx, net: &Plain, h: &Histories) -> f64 {
    use rayon::prelude::*;
    let idx: Vec<usize> = (0..h.len()).collect();
    let w = ctx.cfg.response_weight;
    let parts: Vec<(f64, f64)> = idx
        .par_chunks(EVAL_BATCH)
        .map(|chunk| {
            let b = h.rows(chunk, &ctx.songs);
            let n = b.valid.max(1) as f64;
            let l = ctx.model.forward_loss(net, &b, w, &ctx.scale, n).loss;
            (l * b.valid as f64, b.valid as f64)
        })
        .collect();
    let (sum, steps) = parts
        .iter()
        .fold((0.0, 0.0), |(s, n), (l, v)| (s + l, n + v));
    sum / steps.max(1.0)
}

/// The song layers' reconstruction MSE over `tracks`.
fn song_layers_mse(ctx: &Ctx, net: &Plain, tracks: &[u32]) -> f64 {
    let song = ctx.model.song.as_ref().expect("structure B");
    let ones = vec![1.0f32; ctx.songs.dim];
    let (mut sum, mut n) = (0.0, 0.0);
    for chunk in tracks.chunks(EVAL_BATCH) {
        let x = song_rows(chunk, &ctx.songs);
        sum += song.loss_plain(net, &x, &ones, None) * chunk.len() as f64;
        n += chunk.len() as f64;
    }
    sum / n.max(1.0)
}

/// Measures the test split, writes weights, report and plot.
fn finish(
    ctx: &Ctx,
    params: &Params,
    state: &LoopState,
    out: &Path,
    train_seconds: f64,
) -> Result<Outcome> {
    let p = &params.values;
    let dim = ctx.songs.dim;
    let mut err = Errors::default();
    let idx: Vec<usize> = (0..ctx.test.len()).collect();
    for chunk in idx.chunks(EVAL_BATCH) {
        let b = ctx.test.batch(chunk, &ctx.songs, &ctx.device);
        ctx.model.measure(p, &b, &mut err);
    }
    let (mean_song_mse, majority_accuracy) = baselines(ctx);
    let song_mse = err.song_mse(dim);
    let test = TestMetrics {
        windows: ctx.test.len(),
        steps: err.steps,
        total_mse: err.total_mse(dim),
        song_mse,
        response_mse: err.response_mse(),
        response_accuracy: err.accuracy(),
        response_cross_entropy: err.cross_entropy(),
        mean_song_mse,
        relative_song_mse: song_mse / mean_song_mse.max(f64::MIN_POSITIVE),
        majority_accuracy,
        song_layers_mse: ctx
            .model
            .song
            .as_ref()
            .map(|_| song_layers_mse(ctx, &Plain::of(params), &ctx.test_tracks)),
    };
    let history: Vec<&EpochRecord> = state
        .history
        .iter()
        .filter(|r| r.phase == Phase::History)
        .collect();
    let seqs = history.len() as f64 * ctx.train.len() as f64;
    let secs: f64 = history
        .iter()
        .map(|r| ctx.train.len() as f64 / r.examples_per_s.max(1e-9))
        .sum();
    let report = EncodeReport {
        structure: ctx.cfg.structure,
        windows: BTreeMap::from([
            ("train".to_string(), ctx.train.len()),
            ("validation".to_string(), ctx.valid.len()),
            ("test".to_string(), ctx.test.len()),
        ]),
        parameters: p.iter().map(|t| t.dims()[0] * t.dims()[1]).sum(),
        epochs: state.history.clone(),
        best_epoch: state.best_epoch,
        train_seconds,
        sequences_per_s: seqs / secs.max(1e-9),
        test,
    };
    save_weights(&out.join(files::WEIGHTS), params, &ctx.cfg)?;
    write_json(&out.join(files::REPORT), &report)?;
    let plot = out.join(files::PLOT);
    if let Err(e) = loss_curves(&plot, &state.history) {
        tracing::warn!("could not draw {}: {e}", plot.display());
    }
    Ok(Outcome::Finished(Box::new(report)))
}

/// 1 / variance of each song feature over the real steps of `h` (a floor keeps constant
/// features finite).
fn inverse_variance(h: &Histories, songs: &SongInputs) -> Vec<f32> {
    let d = songs.dim;
    let (mut sum, mut sq, mut n) = (vec![0.0f64; d], vec![0.0f64; d], 0.0);
    for (track, _) in real_steps(h) {
        for (j, &x) in songs.song(track).iter().enumerate() {
            sum[j] += x as f64;
            sq[j] += (x as f64).powi(2);
        }
        n += 1.0;
    }
    (0..d)
        .map(|j| {
            let n = f64::max(n, 1.0);
            let var = sq[j] / n - (sum[j] / n).powi(2);
            (1.0 / var.max(1e-6)) as f32
        })
        .collect()
}

/// (track, level) of every real step of `h`.
fn real_steps(h: &Histories) -> impl Iterator<Item = (u32, u8)> + '_ {
    (0..h.len()).flat_map(move |w| {
        (0..h.lengths[w] as usize)
            .map(move |t| (h.tracks[w * h.steps + t], h.levels[w * h.steps + t]))
    })
}

/// Song MSE of predicting the training mean song, and accuracy of predicting the training
/// split's most frequent level, on the test split's real steps.
fn baselines(ctx: &Ctx) -> (f64, f64) {
    let dim = ctx.songs.dim;
    let mut mean = vec![0.0f64; dim];
    let mut counts = [0u64; LEVELS];
    let mut n = 0.0;
    for (track, level) in real_steps(&ctx.train) {
        for (m, x) in mean.iter_mut().zip(ctx.songs.song(track)) {
            *m += *x as f64;
        }
        counts[level as usize] += 1;
        n += 1.0;
    }
    mean.iter_mut().for_each(|m| *m /= f64::max(n, 1.0));
    let majority = (0..LEVELS).max_by_key(|&l| counts[l]).expect("4 levels") as u8;
    let (mut sq, mut steps, mut hits) = (0.0, 0u64, 0u64);
    for (track, level) in real_steps(&ctx.test) {
        for (m, x) in mean.iter().zip(ctx.songs.song(track)) {
            sq += (m - *x as f64).powi(2);
        }
        hits += (level == majority) as u64;
        steps += 1;
    }
    (
        sq / (steps.max(1) * dim as u64) as f64,
        hits as f64 / steps.max(1) as f64,
    )
}

fn save_checkpoint(
    path: &Path,
    params: &Params,
    best: &[Tensor<2>],
    adam: &Adam,
    state: &LoopState,
) -> Result<()> {
    let mut tensors = Vec::new();
    for (i, name) in params.names.iter().enumerate() {
        for (prefix, t) in [
            ("param", &params.values[i]),
            ("best", &best[i]),
            ("adam.m", &adam.m[i]),
            ("adam.v", &adam.v[i]),
        ] {
            tensors.push((format!("{prefix}.{name}"), t.dims(), to_vec(t)));
        }
    }
    let meta = BTreeMap::from([
        (
            "state".to_string(),
            serde_json::to_string(state).expect("state serialises"),
        ),
        (
            "segue_version".to_string(),
            env!("CARGO_PKG_VERSION").into(),
        ),
    ]);
    store::save(path, &tensors, &meta).map_err(io(path))
}

fn load_checkpoint(
    path: &Path,
    params: &mut Params,
    adam: &mut Adam,
) -> Result<(LoopState, Vec<Tensor<2>>)> {
    let (tensors, meta) = store::load(path).map_err(EncodeError::Run)?;
    let bad = |p: String| EncodeError::Run(format!("{}: {p}", path.display()));
    let state: LoopState = meta
        .get("state")
        .ok_or_else(|| bad("no loop state in the metadata".into()))
        .and_then(|s| serde_json::from_str(s).map_err(|e| bad(e.to_string())))?;
    let by_name: BTreeMap<&str, &store::Named> =
        tensors.iter().map(|t| (t.0.as_str(), t)).collect();
    let get = |prefix: &str, name: &str, shape: [usize; 2]| -> Result<Tensor<2>> {
        let key = format!("{prefix}.{name}");
        let (_, s, v) = by_name
            .get(key.as_str())
            .ok_or_else(|| bad(format!("missing tensor {key}")))?;
        if *s != shape {
            return Err(bad(format!("{key}: shape {s:?}, expected {shape:?}")));
        }
        Ok(Tensor::from_data(
            TensorData::new(v.clone(), shape),
            &params.device,
        ))
    };
    let mut best = Vec::with_capacity(params.len());
    for i in 0..params.len() {
        let (name, shape) = (params.names[i].clone(), params.values[i].dims());
        params.values[i] = get("param", &name, shape)?;
        best.push(get("best", &name, shape)?);
        adam.m[i] = get("adam.m", &name, shape)?;
        adam.v[i] = get("adam.v", &name, shape)?;
    }
    adam.step = state.adam_step;
    Ok((state, best))
}

fn save_weights(path: &Path, params: &Params, cfg: &EncoderConfig) -> Result<()> {
    let meta = BTreeMap::from([
        (
            "encoder".to_string(),
            serde_json::to_string(cfg).expect("config serialises"),
        ),
        (
            "segue_version".to_string(),
            env!("CARGO_PKG_VERSION").into(),
        ),
    ]);
    store::save(path, &params.export(), &meta).map_err(io(path))
}

/// A trained encoder loaded from a run folder: maps histories to latent states.
pub struct Encoder {
    pub config: RunConfig,
    pub model: HistoryAutoencoder,
    pub params: Params,
    pub songs: SongInputs,
    /// The inputs of a track the song space has no vector for ([`SongInputs::fallback`]).
    pub fallback: Vec<f32>,
    /// The encoder half of `model` with `params`, for [`encode`](Self::encode).
    infer: Inference,
}

impl Encoder {
    /// Loads `weights.safetensors`, `config.json` and the song space of a finished run.
    pub fn load(run: &Path) -> Result<Encoder> {
        let config_path = run.join(files::CONFIG);
        let text = std::fs::read_to_string(&config_path).map_err(io(&config_path))?;
        let config: RunConfig = serde_json::from_str(&text)
            .map_err(|e| EncodeError::Run(format!("{}: {e}", config_path.display())))?;
        // A relative song-space path is inside the run folder.
        let (_, space) = space::load(&run.join(&config.songs))?;
        let songs = SongInputs::new(&space);
        let fallback = songs.fallback(&space);
        let device = config
            .encoder
            .backend
            .device()
            .map_err(EncodeError::Config)?;
        let mut params = Params::new(&device);
        let model = HistoryAutoencoder::new(&config.encoder, songs.dim, &mut params);
        let (tensors, _) = store::load(&run.join(files::WEIGHTS)).map_err(EncodeError::Run)?;
        params.import(&tensors).map_err(|e| {
            EncodeError::Run(format!("{}: {e}", run.join(files::WEIGHTS).display()))
        })?;
        Ok(Encoder {
            infer: model.inference(&params.values),
            config,
            model,
            params,
            songs,
            fallback,
        })
    }

    /// The latent states of histories (each a list of (track, level), oldest first),
    /// `[histories, latent]` row-major.
    pub fn encode<H: AsRef<[(u32, u8)]>>(&self, histories: &[H]) -> Vec<f32> {
        self.infer.encode(histories, &self.songs)
    }
}

/// The encoder's training and validation losses per epoch, one series per phase.
fn loss_curves(path: &Path, history: &[EpochRecord]) -> std::result::Result<(), String> {
    let mut series = Vec::new();
    for (phase, name) in [
        (Phase::SongLayers, "song layers"),
        (Phase::History, "history"),
    ] {
        let recs: Vec<&EpochRecord> = history.iter().filter(|r| r.phase == phase).collect();
        if recs.is_empty() {
            continue;
        }
        series.push(crate::plot::Series {
            name: format!("{name}: training"),
            points: recs
                .iter()
                .map(|r| (r.epoch as f64 + 1.0, r.train_loss))
                .collect(),
        });
        series.push(crate::plot::Series {
            name: format!("{name}: validation"),
            points: recs
                .iter()
                .map(|r| (r.epoch as f64 + 1.0, r.valid_loss))
                .collect(),
        });
    }
    crate::plot::lines(path, "encoder loss", "epoch", "loss", &series)
}
