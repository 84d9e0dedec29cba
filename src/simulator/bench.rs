//! `segue bench simulator`: simulator steps per second and key-lookup recall against exact
//! search, on the keys of a real sample and encoder (the training split's transitions are the
//! keys, held-out transitions the queries). `--export` writes the scaled keys and queries in
//! the raw f32 format of bench/ann, so `bench/ann/peers.py` measures FAISS on the same keys.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::data::Split;
use crate::songs::dedup::Dedup;
use crate::songs::hnsw::{Hnsw, HnswConfig};
use crate::songs::index::{IndexKind, NearestTracks, Neighbour, recall_at};

use super::config::SimulatorConfig;
use super::error::SimError;
use super::memory::{Simulator, encode_transitions, histories, transitions};

/// One measured backend.
#[derive(Clone, Debug, Serialize)]
pub struct SimBenchRow {
    pub backend: String,
    pub keys: usize,
    pub dim: usize,
    pub queries: usize,
    pub ef_search: Option<usize>,
    pub build_s: f64,
    /// Simulated steps (queries answered through `Simulator::respond`) per second, one thread.
    pub steps_per_s: f64,
    /// Share of the exact k nearest keys that the backend found.
    pub recall_at_k: f64,
}

/// An HNSW graph (over the distinct keys) searched with a given beam, shared between views.
struct EfView(Arc<Dedup<Hnsw>>, usize);

impl NearestTracks for EfView {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn search(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        self.0
            .search_with(query, k, |h, q, k| h.search_ef(q, k, self.1))
    }
}

/// Runs the benchmark; with `export`, writes `PREFIX.base.f32` and `PREFIX.query.f32` first.
pub fn run(
    sample_dir: &Path,
    encoder_dir: &Path,
    cfg: &SimulatorConfig,
    max_queries: usize,
    efs: &[usize],
    export: Option<&str>,
) -> Result<Vec<SimBenchRow>, SimError> {
    let (encoder, sample) = super::error::load_inputs(sample_dir, encoder_dir, cfg)?;
    let exact_cfg = SimulatorConfig {
        index: IndexKind::Exact,
        ..cfg.clone()
    };
    let t0 = Instant::now();
    let train = transitions(&sample, Split::Train, encoder.model.steps);
    let (ks, ka) = encode_transitions(&encoder, &train);
    let mut sim = Simulator::from_encoded(&train, &ks, &ka, &encoder, &exact_cfg);
    let encode_s = t0.elapsed().as_secs_f64();
    let mut held_out = transitions(&sample, Split::Test, encoder.model.steps);
    held_out.truncate(max_queries);
    let (qs, qa) = encode_transitions(&encoder, &held_out);
    let kr = sim.recent(&encoder.songs, &histories(&train), &ka);
    let qr = sim.recent(&encoder.songs, &histories(&held_out), &qa);
    let keys = sim.keys(&ks, &ka, &kr);
    let dim = sim.key_dim();
    if let Some(prefix) = export {
        for (suffix, v) in [("base", &keys), ("query", &sim.keys(&qs, &qa, &qr))] {
            let path = format!("{prefix}.{suffix}.f32");
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            crate::output::write_atomic(Path::new(&path), &bytes).map_err(|e| SimError::Io {
                path: path.into(),
                source: e,
            })?;
        }
    }
    tracing::info!(
        "{} keys of dimension {dim} encoded (and a learned metric trained) in {encode_s:.1} s; {} queries",
        sim.len(),
        held_out.len()
    );
    let mut rows = Vec::new();
    // Whole passes over the queries for at least a second, on one thread: a single pass is too
    // short for a steady figure, and the exact backend would otherwise split a batch across
    // every core. `batch` queries per call: all of them, or one (a single
    // session stepped at a time, as from Python).
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().ok();
    let n = held_out.len();
    let (sd, ad, rd) = (
        qs.len() / n.max(1),
        qa.len() / n.max(1),
        qr.len() / n.max(1),
    );
    let time = |sim: &Simulator, batch: usize| {
        if n == 0 {
            return 0.0;
        }
        let passes = || {
            let (t, mut passes) = (Instant::now(), 0usize);
            while passes == 0 || t.elapsed().as_secs_f64() < 1.0 {
                for s in (0..n).step_by(batch.max(1)) {
                    let e = (s + batch).min(n);
                    let r = sim.respond(
                        &qs[s * sd..e * sd],
                        &qa[s * ad..e * ad],
                        &qr[s * rd..e * rd],
                    );
                    assert_eq!(r.len(), e - s);
                }
                passes += 1;
            }
            (passes * n) as f64 / t.elapsed().as_secs_f64().max(1e-9)
        };
        match &one_thread {
            Some(pool) => pool.install(passes),
            None => passes(),
        }
    };
    let truth = sim.neighbours(&qs, &qa, &qr);
    for (backend, batch) in [("exact (batched)", n), ("exact (one query at a time)", 1)] {
        rows.push(SimBenchRow {
            backend: backend.into(),
            keys: sim.len(),
            dim,
            queries: n,
            ef_search: None,
            build_s: 0.0,
            steps_per_s: time(&sim, batch),
            recall_at_k: 1.0,
        });
    }
    let hcfg = HnswConfig::default();
    let t = Instant::now();
    // The simulator's own HNSW backend: one node per distinct key (index::build).
    let graph = Arc::new(Dedup::build(keys, dim, |v, d| Hnsw::build(v, d, &hcfg)));
    let build_s = t.elapsed().as_secs_f64();
    tracing::info!(
        "{} distinct keys of {}; HNSW built in {build_s:.1} s",
        graph.groups(),
        graph.len()
    );
    for &ef in efs {
        sim.set_index(Box::new(EfView(graph.clone(), ef)));
        let steps_per_s = time(&sim, n);
        let got = sim.neighbours(&qs, &qa, &qr);
        rows.push(SimBenchRow {
            backend: format!(
                "hnsw, distinct keys (M {}, ef_construction {})",
                hcfg.m, hcfg.ef_construction
            ),
            keys: sim.len(),
            dim,
            queries: held_out.len(),
            ef_search: Some(ef),
            build_s,
            steps_per_s,
            recall_at_k: recall_at(&truth, &got, cfg.k),
        });
    }
    Ok(rows)
}
