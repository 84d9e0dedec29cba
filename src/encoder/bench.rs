//! `segue bench encoder`: training throughput of a history autoencoder on seeded random
//! windows (full length), with the time split into the gradient (forward and backward) and the
//! optimizer step, in the pass `segue encode` trains with (plain vectors on the CPU, burn on a
//! GPU backend). The same model in PyTorch is `bench/encoder/torch_encoder.py`.

use std::time::Instant;

use serde::Serialize;

use super::config::{Backend, EncoderConfig};
use super::data::{Histories, InputTransform, LEVELS, SongInputs};
use super::model::HistoryAutoencoder;
use crate::nn::backprop::Plain;
use crate::nn::{Adam, Params, to_vec};
use crate::rng::Rng;

/// One benchmark measurement.
#[derive(Clone, Debug, Serialize)]
pub struct BenchRow {
    pub structure: super::Structure,
    pub decoder: super::config::Decoder,
    pub batch: usize,
    pub steps: usize,
    pub dim: usize,
    pub hidden: usize,
    pub latent: usize,
    pub threads: usize,
    pub updates: usize,
    pub sequences_per_s: f64,
    /// The forward and backward passes (on the CPU each thread runs both on its part of the
    /// batch, so they are timed together).
    pub gradient_ms: f64,
    pub optimizer_ms: f64,
}

/// Times `updates` training steps (after 5 untimed ones) on batches of random windows.
pub fn run(cfg: &EncoderConfig, dim: usize, updates: usize) -> Result<BenchRow, String> {
    let device = cfg.backend.device()?;
    let mut rng = Rng::stream(cfg.seed, &[0xBE4C]);
    let tracks = 10_000u32;
    let songs = SongInputs {
        dim,
        values: (0..tracks as usize * dim)
            .map(|_| rng.f64() as f32)
            .collect(),
        transform: InputTransform::Identity,
        catalogue: None,
    };
    let mut h = Histories {
        steps: cfg.history,
        ..Default::default()
    };
    let windows = cfg.batch_size * 8;
    for _ in 0..windows {
        let w: Vec<(u32, u8)> = (0..cfg.history)
            .map(|_| {
                (
                    rng.below(tracks as u64) as u32,
                    rng.below(LEVELS as u64) as u8,
                )
            })
            .collect();
        h.push(&w);
    }
    let mut params = Params::new(&device);
    let model = HistoryAutoencoder::new(cfg, dim, &mut params);
    let mut adam = Adam::new(&params, cfg.learning_rate);
    adam.clip_norm = cfg.grad_clip;
    let idx = |i: usize| -> Vec<usize> { (i * cfg.batch_size..(i + 1) * cfg.batch_size).collect() };
    let (mut grad, mut opt) = (0.0, 0.0);
    let mut time = |it: usize, t: [Instant; 3]| {
        if it >= 5 {
            grad += (t[1] - t[0]).as_secs_f64();
            opt += (t[2] - t[1]).as_secs_f64();
        }
    };
    if cfg.backend == Backend::Flex {
        // The pass `segue encode` trains with on the CPU (`nn::backprop`).
        let batches: Vec<_> = (0..8).map(|i| h.rows(&idx(i), &songs)).collect();
        let ones = vec![1.0f32; dim];
        let mut net = Plain::of(&params);
        let mut grads = net.zero_grads();
        let mut moments = adam.moments();
        for it in 0..updates + 5 {
            let b = &batches[it % batches.len()];
            let t0 = Instant::now();
            grads.zero();
            model.loss_grad(&net, &mut grads, b, cfg.response_weight, &ones);
            let t1 = Instant::now();
            adam.step_plain(&mut net, &grads, &mut moments);
            time(it, [t0, t1, Instant::now()]);
        }
    } else {
        let batches: Vec<_> = (0..8).map(|i| h.batch(&idx(i), &songs, &device)).collect();
        let ones = burn::tensor::Tensor::ones([1, dim], &device);
        for it in 0..updates + 5 {
            let b = &batches[it % batches.len()];
            let t0 = Instant::now();
            let leaves = params.leaves();
            let loss = model.loss(&leaves, b, cfg.response_weight, &ones);
            let _ = to_vec(&loss);
            let mut grads = loss.backward();
            let t1 = Instant::now();
            adam.apply(&mut params, &leaves, &mut grads);
            // Reading a weight forces the (lazy) update to finish before the clock stops.
            let _ = to_vec(&params.values[0]);
            time(it, [t0, t1, Instant::now()]);
        }
    }
    let total = grad + opt;
    let per = |x: f64| x / updates as f64 * 1e3;
    Ok(BenchRow {
        structure: cfg.structure,
        decoder: cfg.decoder,
        batch: cfg.batch_size,
        steps: cfg.history,
        dim,
        hidden: cfg.hidden,
        latent: cfg.latent,
        threads: rayon::current_num_threads(),
        updates,
        sequences_per_s: (updates * cfg.batch_size) as f64 / total.max(1e-12),
        gradient_ms: per(grad),
        optimizer_ms: per(opt),
    })
}
