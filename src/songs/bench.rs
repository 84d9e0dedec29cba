//! `segue bench ann`: build time, queries per second and recall@10 of each nearest-track backend
//! on vectors stored as raw little-endian f32 (`PREFIX.base.f32`, `PREFIX.query.f32`, and
//! optionally `PREFIX.gt.u32` with the true top 10 per query; the format of bench/ann).

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::features::TrackTable;
use super::hnsw::{Hnsw, HnswConfig};
use super::index::{Exact, NearestTracks, Neighbour, recall_at};

/// One measured configuration.
#[derive(Clone, Debug, Serialize)]
pub struct AnnResult {
    pub backend: String,
    pub n: usize,
    pub dim: usize,
    pub ef_search: Option<usize>,
    pub build_s: f64,
    pub qps: f64,
    pub recall_at_10: f64,
}

fn read_f32(path: &Path) -> std::io::Result<Vec<f32>> {
    let b = std::fs::read(path)?;
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Song vectors of a track table (`table`, such as a synthetic world's:
/// [`crate::synth::track_table`]) scaled by the song-space rules, and `queries` seeded queries:
/// real tracks' vectors plus a little noise.
pub fn synthetic(table: &TrackTable, queries: usize, seed: u64) -> (Vec<f32>, Vec<f32>, usize) {
    use super::features::fit;
    let (columns, rows) = table;
    let tracks = rows.len();
    let refs: Vec<&[super::features::RawValue]> = rows.iter().map(|r| r.as_slice()).collect();
    let scaling = fit(columns, &refs);
    let dim = scaling.dim();
    let mut base = Vec::with_capacity(tracks * dim);
    for r in rows {
        scaling.apply(r, &mut base);
    }
    let mut rng = crate::rng::Rng::new(seed ^ 0x9E37);
    let mut q = Vec::with_capacity(queries * dim);
    for _ in 0..queries {
        let t = rng.below(tracks as u64) as usize;
        q.extend(
            base[t * dim..(t + 1) * dim]
                .iter()
                .map(|x| x + 0.02 * rng.normal() as f32),
        );
    }
    (base, q, dim)
}

/// Runs the benchmark on the files at `prefix` (or on the song vectors of a track table when
/// `synthetic_tracks` is given), one thread, queries one at a time; HNSW query rates are the
/// fastest of three passes after a warm-up.
pub fn run(
    prefix: &str,
    synthetic_tracks: Option<&TrackTable>,
    dim: usize,
    m: usize,
    ef_construction: usize,
    efs: &[usize],
    exact_queries: usize,
) -> std::io::Result<Vec<AnnResult>> {
    let (base, queries, dim) = match synthetic_tracks {
        Some(t) => synthetic(t, 1_000, 1),
        None => (
            read_f32(Path::new(&format!("{prefix}.base.f32")))?,
            read_f32(Path::new(&format!("{prefix}.query.f32")))?,
            dim,
        ),
    };
    let n = base.len() / dim;
    let nq = queries.len() / dim;
    let gt_path = format!("{prefix}.gt.u32");
    let mut out = Vec::new();
    let exact = Exact::new(base.clone(), dim);
    // Ground truth: the file when present, else the exact backend's answers.
    let gt = if synthetic_tracks.is_some() {
        Err(std::io::Error::other("synthetic"))
    } else {
        std::fs::read(&gt_path)
    };
    let truth: Vec<Vec<Neighbour>> = match gt {
        Ok(b) => b
            .chunks_exact(40)
            .map(|row| {
                row.chunks_exact(4)
                    .map(|c| Neighbour {
                        id: u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                        dist: 0.0,
                    })
                    .collect()
            })
            .collect(),
        Err(_) => exact.search_batch(&queries, 10),
    };
    // Exact, batched over all queries, and one at a time over the first few.
    let t = Instant::now();
    let batch = exact.search_batch(&queries, 10);
    let secs = t.elapsed().as_secs_f64();
    out.push(AnnResult {
        backend: "exact (batched)".into(),
        n,
        dim,
        ef_search: None,
        build_s: 0.0,
        qps: nq as f64 / secs,
        recall_at_10: recall_at(&truth, &batch, 10),
    });
    let few = exact_queries.min(nq);
    let t = Instant::now();
    let single: Vec<Vec<Neighbour>> = queries[..few * dim]
        .chunks_exact(dim)
        .map(|q| exact.search(q, 10))
        .collect();
    let secs = t.elapsed().as_secs_f64();
    out.push(AnnResult {
        backend: "exact (one query at a time)".into(),
        n,
        dim,
        ef_search: None,
        build_s: 0.0,
        qps: few as f64 / secs,
        recall_at_10: recall_at(&truth[..few], &single, 10),
    });
    drop(exact);
    let t = Instant::now();
    let bar = crate::data::run::record_bar(n as u64, "indexing", true);
    if let Some(b) = &bar {
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:<10} [{bar:30}] {human_pos}/{human_len} vectors eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
    }
    let mut hnsw = Hnsw::build_with_progress(
        base,
        dim,
        &HnswConfig {
            m,
            ef_construction,
            ..Default::default()
        },
        bar.as_ref(),
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let build_s = t.elapsed().as_secs_f64();
    for &ef in efs {
        hnsw.set_ef_search(ef);
        let t = Instant::now();
        let got: Vec<Vec<Neighbour>> = queries
            .chunks_exact(dim)
            .map(|q| hnsw.search(q, 10))
            .collect();
        let secs = t.elapsed().as_secs_f64();
        out.push(AnnResult {
            backend: format!("hnsw (M {m}, ef_construction {ef_construction})"),
            n,
            dim,
            ef_search: Some(ef),
            build_s,
            qps: nq as f64 / secs,
            recall_at_10: recall_at(&truth, &got, 10),
        });
    }
    Ok(out)
}
