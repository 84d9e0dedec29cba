//! `segue bench`: the benchmarks run beside their peers (bench/README.md).

use super::*;

#[derive(Subcommand)]
pub(crate) enum BenchCommand {
    /// Nearest-track backends on raw f32 vectors (the files of bench/ann): build time, queries/s, recall@10.
    Ann(AnnArgs),
    /// Training throughput of a history autoencoder on random windows (bench/encoder has PyTorch's).
    Encoder(BenchEncoderArgs),
    /// Simulator steps per second and key-lookup recall, exact against HNSW (bench/ann/peers.py for FAISS).
    Simulator(BenchSimulatorArgs),
    /// DDPG / TD3 updates per second on random transitions (bench/agent/torch_ddpg.py runs the same in PyTorch).
    Agent(BenchAgentArgs),
    /// Load test of a running `segue serve` over loopback: requests/s, latency, server memory (bench/serve/run.sh).
    Serve(BenchServeArgs),
}

#[derive(Args)]
pub(crate) struct BenchServeArgs {
    /// The server's address.
    #[arg(long)]
    pub(crate) addr: String,
    /// The history to post (JSON list of plays or log CSV).
    #[arg(long)]
    pub(crate) history: PathBuf,
    #[arg(short, long, default_value_t = 10)]
    pub(crate) k: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    pub(crate) connections: usize,
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
    /// The server's pid: its resident memory before and after.
    #[arg(long)]
    pub(crate) pid: Option<u32>,
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn bench_serve(a: BenchServeArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.history)
        .with_context(|| format!("reading {}", a.history.display()))?;
    let plays = segue::serve::read_history(&text, &a.history.display().to_string())
        .map_err(anyhow::Error::msg)?;
    let body = serde_json::json!({"history": plays, "k": a.k}).to_string();
    let r = segue::serve::load::run(
        &a.addr,
        "/v1/recommend",
        &body,
        a.connections,
        a.seconds,
        a.pid,
    );
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!(
        "{} connections, {:.1} s: {} requests ({} errors), {:.0} requests/s; round trip p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs; recommendation itself p50 {:.0} µs, p99 {:.0} µs",
        r.connections,
        r.seconds,
        r.requests,
        r.errors,
        r.requests_per_s,
        r.p50_us,
        r.p99_us,
        r.max_us,
        r.server_p50_us,
        r.server_p99_us
    );
    if let (Some(b), Some(e)) = (r.rss_before_kb, r.rss_after_kb) {
        println!(
            "server RSS {:.1} MB before, {:.1} MB after",
            b as f64 / 1024.0,
            e as f64 / 1024.0
        );
    }
    Ok(())
}

#[derive(Args)]
pub(crate) struct BenchAgentArgs {
    #[arg(long, value_enum, default_value = "ddpg")]
    pub(crate) algo: segue::agent::Algo,
    #[arg(long, default_value_t = 96)]
    pub(crate) state_dim: usize,
    #[arg(long, default_value_t = 32)]
    pub(crate) action_dim: usize,
    #[arg(long, default_value_t = 256)]
    pub(crate) hidden: usize,
    #[arg(long, default_value_t = 256)]
    pub(crate) batch: usize,
    /// Threads of the tensor kernels.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Seconds to measure (after 20 warm-up updates).
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
    /// Print one JSON line.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn bench_agent(a: BenchAgentArgs) -> Result<()> {
    set_threads(a.threads);
    let r = segue::agent::bench::bench_agent(
        a.algo,
        a.state_dim,
        a.action_dim,
        a.hidden,
        a.batch,
        a.threads,
        a.seconds,
    );
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    let parts: Vec<String> = r
        .breakdown
        .iter()
        .map(|(n, x)| format!("{n} {:.1}%", 100.0 * x))
        .collect();
    println!(
        "segue (plain vectors, CPU) {}: {} threads, batch {}, hidden {}, state {}, action {}: {:.1} updates/s ({} in {:.1} s); {}",
        r.algo,
        r.threads,
        r.batch,
        r.hidden,
        r.state_dim,
        r.action_dim,
        r.updates_per_s,
        r.updates,
        r.seconds,
        parts.join(", ")
    );
    Ok(())
}

#[derive(Args)]
pub(crate) struct BenchSimulatorArgs {
    /// A sample folder; its training transitions are the keys.
    #[arg(long)]
    pub(crate) sample: PathBuf,
    /// A finished `segue encode` run on that sample.
    #[arg(long)]
    pub(crate) encoder: PathBuf,
    /// Held-out transitions used as queries, at most.
    #[arg(long, default_value_t = 2000)]
    pub(crate) queries: usize,
    /// HNSW search beams, one run each.
    #[arg(long, value_delimiter = ',', default_value = "32,64,128")]
    pub(crate) ef: Vec<usize>,
    /// Write the scaled keys and queries as PREFIX.base.f32 and PREFIX.query.f32.
    #[arg(long)]
    pub(crate) export: Option<String>,
    /// A TOML run config ([simulator] table: k, alpha, radius).
    #[arg(short, long)]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct BenchEncoderArgs {
    /// Autoencoder structure.
    #[arg(long, value_enum, default_value = "a")]
    pub(crate) structure: segue::encoder::Structure,
    /// Windows per batch (default: the encoder config's).
    #[arg(long)]
    pub(crate) batch: Option<usize>,
    /// Song-vector dimension.
    #[arg(long, default_value_t = 30)]
    pub(crate) dim: usize,
    /// LSTM hidden units (default: the encoder config's).
    #[arg(long)]
    pub(crate) hidden: Option<usize>,
    /// Latent size (default: the encoder config's).
    #[arg(long)]
    pub(crate) latent: Option<usize>,
    /// Decoder kind (default: the encoder config's).
    #[arg(long, value_enum)]
    pub(crate) decoder: Option<segue::encoder::config::Decoder>,
    /// Timed updates.
    #[arg(long, default_value_t = 200)]
    pub(crate) updates: usize,
    /// Threads (0: every core).
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
}

#[derive(Args)]
pub(crate) struct AnnArgs {
    /// Prefix of PREFIX.base.f32, PREFIX.query.f32 and (optional) PREFIX.gt.u32.
    #[arg(long, required_unless_present = "synthetic_tracks", default_value = "")]
    pub(crate) data: String,
    /// Instead of files: the song vectors (official features, scaled) of a synthetic world of
    /// this many tracks, with 1,000 seeded queries near real tracks.
    #[arg(long)]
    pub(crate) synthetic_tracks: Option<usize>,
    /// With --synthetic-tracks: write the vectors as PREFIX.base.f32 and PREFIX.query.f32 (for
    /// the peer scripts in bench/ann) and stop.
    #[arg(long)]
    pub(crate) export: Option<String>,
    /// Vector dimension.
    #[arg(long, default_value_t = 48)]
    pub(crate) dim: usize,
    /// HNSW links per node.
    #[arg(long, default_value_t = 16)]
    pub(crate) m: usize,
    /// HNSW candidates while building.
    #[arg(long, default_value_t = 200)]
    pub(crate) ef_construction: usize,
    /// HNSW candidates while searching, one run each.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
    pub(crate) ef: Vec<usize>,
    /// Queries timed one at a time on the exact backend.
    #[arg(long, default_value_t = 200)]
    pub(crate) exact_queries: usize,
}

pub(crate) fn bench_simulator(a: BenchSimulatorArgs) -> Result<()> {
    set_threads(1);
    let cfg = read_config(a.config.as_ref())?.simulator;
    let rows = segue::simulator::bench::run(
        &a.sample,
        &a.encoder,
        &cfg,
        a.queries,
        &a.ef,
        a.export.as_deref(),
    )?;
    println!(
        "| backend | keys | dim | queries | ef_search | build s | steps/s | recall@{} |",
        cfg.k
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {:.1} | {:.0} | {:.4} |",
            r.backend,
            r.keys,
            r.dim,
            r.queries,
            r.ef_search.map_or("-".into(), |e| e.to_string()),
            r.build_s,
            r.steps_per_s,
            r.recall_at_k
        );
        eprintln!("{}", serde_json::to_string(r)?);
    }
    Ok(())
}

pub(crate) fn bench_encoder(a: BenchEncoderArgs) -> Result<()> {
    set_threads(a.threads);
    let d = segue::encoder::EncoderConfig::default();
    let cfg = segue::encoder::EncoderConfig {
        structure: a.structure,
        batch_size: a.batch.unwrap_or(d.batch_size),
        hidden: a.hidden.unwrap_or(d.hidden),
        latent: a.latent.unwrap_or(d.latent),
        decoder: a.decoder.unwrap_or(d.decoder),
        ..d
    };
    cfg.validate().map_err(anyhow::Error::msg)?;
    let r = segue::encoder::bench::run(&cfg, a.dim, a.updates).map_err(anyhow::Error::msg)?;
    println!(
        "structure {:?}, batch {}, {} steps, dim {}, hidden {}, latent {}, {} threads: {:.0} sequences/s; per update forward and backward {:.2} ms, optimizer {:.2} ms",
        r.structure,
        r.batch,
        r.steps,
        r.dim,
        r.hidden,
        r.latent,
        r.threads,
        r.sequences_per_s,
        r.gradient_ms,
        r.optimizer_ms
    );
    eprintln!("{}", serde_json::to_string(&r)?);
    Ok(())
}

pub(crate) fn bench_ann(a: AnnArgs) -> Result<()> {
    if let (Some(prefix), Some(n)) = (&a.export, a.synthetic_tracks) {
        let table = segue::synth::track_table(n, 1);
        let (base, queries, dim) = segue::songs::bench::synthetic(&table, 1_000, 1);
        for (suffix, v) in [("base", &base), ("query", &queries)] {
            let path = format!("{prefix}.{suffix}.f32");
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            segue::output::write_atomic(std::path::Path::new(&path), &bytes)
                .with_context(|| format!("writing {path}"))?;
        }
        println!("wrote {prefix}.base.f32 ({n} × {dim}) and {prefix}.query.f32 (1000 × {dim})");
        return Ok(());
    }
    let table = a.synthetic_tracks.map(|n| segue::synth::track_table(n, 1));
    let rows = segue::songs::bench::run(
        &a.data,
        table.as_ref(),
        a.dim,
        a.m,
        a.ef_construction,
        &a.ef,
        a.exact_queries,
    )
    .with_context(|| format!("reading {}.*", a.data))?;
    println!("| backend | n | dim | ef_search | build s | queries/s | recall@10 |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {:.4} |",
            r.backend,
            r.n,
            r.dim,
            r.ef_search.map_or("-".into(), |e| e.to_string()),
            r.build_s,
            r.qps,
            r.recall_at_10
        );
        eprintln!("{}", serde_json::to_string(r)?);
    }
    Ok(())
}
