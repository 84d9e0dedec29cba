//! The `segue` command line: a thin front over the library.
//!
//! Exit codes: 0 success, 1 an error (its cause chain is printed), 2 bad usage (clap).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use segue::data::{self, SampleConfig, run::is_sample_dir, stats};
use segue::synth::SynthConfig;

#[derive(Parser)]
#[command(
    name = "segue",
    version,
    about = "Next-song recommendation with reinforcement learning"
)]
struct Cli {
    /// Hide progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    /// Log the time of each step.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sample whole sessions evenly from every log file, split them, and write a sample folder.
    Sample(SampleArgs),
    /// A distributed sample's plan: the log files in merge order and each one's share (JSON).
    SamplePlan(SamplePlanArgs),
    /// A distributed sample's map task: one log file of a plan to a partial (binary).
    SampleMap(SampleMapArgs),
    /// A distributed sample's merge: the partials of every file of a plan into a sample folder,
    /// identical to `segue sample` on the same files.
    SampleMerge(SampleMergeArgs),
    /// Print the statistics of log files or of a sample folder.
    Stats(StatsArgs),
    /// Generate a synthetic MSSD world (logs, track features, the hidden user model).
    Synth(SynthArgs),
    /// Give every track of a sample a vector (official features or learned) and score next-track retrieval.
    Songs(SongsArgs),
    /// Train a history autoencoder (structure A or B) on a sample and measure it on the test split.
    Encode(EncodeArgs),
    /// Build the user simulator from the logs: its fidelity on held-out transitions, and the baselines' scores.
    Simulate(SimulateArgs),
    /// Train a DDPG or TD3 agent in the training split's simulator and score it in the held-out one.
    Train(TrainArgs),
    /// Score trained agents and the baselines in the held-out simulator, several seeds (and under the true model of a synthetic world).
    Eval(EvalArgs),
    /// The whole pipeline on a synthetic world generated on the fly (no data needed): synth, sample, songs, encoder, simulator, DDPG and TD3, evaluation, report.
    Demo(DemoArgs),
    /// The whole pipeline on your logs, from a TOML run config: sample, songs, encoder, simulator, agents, evaluation, report.
    Run(RunArgs),
    /// The next tracks for a listening history, from a trained run.
    Recommend(RecommendArgs),
    /// Serve recommendations over HTTP (POST /v1/recommend, GET /v1/model, GET /healthz).
    Serve(ServeArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Args)]
struct RecommendArgs {
    /// A finished `segue train` run.
    #[arg(long)]
    run: PathBuf,
    /// The history: a JSON list of {track_id, response} or CSV rows in the log schema; - reads standard input.
    #[arg(long)]
    history: String,
    /// Tracks to return.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Allow tracks of the history.
    #[arg(long)]
    include_played: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// A finished `segue train` run.
    #[arg(long)]
    run: PathBuf,
    /// Address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Largest k a request may ask for.
    #[arg(long, default_value_t = 100)]
    max_k: usize,
    /// Largest request body in bytes (413 beyond).
    #[arg(long, default_value_t = 65536)]
    body_limit: usize,
    /// Track index of the action space: the run's (default), exact, or hnsw.
    #[arg(long)]
    index: Option<String>,
    /// With --index hnsw: candidates kept while searching (recall against speed; measured in
    /// bench/README.md).
    #[arg(long, default_value_t = 32)]
    ef_search: usize,
    /// Worker threads of the server.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Seconds a client has to send a request's headers (also closes idle kept-alive
    /// connections).
    #[arg(long, default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds a client has to send a request's body once its headers are in (408 past it).
    #[arg(long, default_value_t = 30.0)]
    body_timeout: f64,
    /// Seconds without a byte moving either way after which a connection is closed.
    #[arg(long, default_value_t = 60.0)]
    idle_timeout: f64,
    /// Open connections at most (503 beyond).
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds open requests may still finish after Ctrl-C before the server exits.
    #[arg(long, default_value_t = 10.0)]
    shutdown_timeout: f64,
}

impl ServeArgs {
    fn limits(&self) -> Result<segue::serve::http::Limits> {
        let secs = |flag: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v < 1e6 {
                Ok(std::time::Duration::from_secs_f64(v))
            } else {
                anyhow::bail!("--{flag}: {v} is not a number of seconds above 0")
            }
        };
        anyhow::ensure!(
            self.max_connections > 0,
            "--max-connections must be at least 1"
        );
        Ok(segue::serve::http::Limits {
            body_limit: self.body_limit,
            header_timeout: secs("header-timeout", self.header_timeout)?,
            body_timeout: secs("body-timeout", self.body_timeout)?,
            idle_timeout: secs("idle-timeout", self.idle_timeout)?,
            max_connections: self.max_connections,
            shutdown_timeout: secs("shutdown-timeout", self.shutdown_timeout)?,
        })
    }
}

fn index_arg(s: Option<&str>, ef_search: usize) -> Result<Option<segue::songs::index::IndexKind>> {
    use segue::songs::index::IndexKind;
    Ok(match s {
        None => None,
        Some("exact") => Some(IndexKind::Exact),
        Some("hnsw") => Some(IndexKind::Hnsw(segue::songs::hnsw::HnswConfig {
            ef_search,
            ..Default::default()
        })),
        Some(o) => anyhow::bail!("--index: {o:?} is not exact or hnsw"),
    })
}

fn recommend_cmd(a: RecommendArgs) -> Result<()> {
    let text = if a.history == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("reading standard input")?;
        s
    } else {
        std::fs::read_to_string(&a.history).with_context(|| format!("reading {}", a.history))?
    };
    let source = if a.history == "-" {
        "standard input"
    } else {
        a.history.as_str()
    };
    let plays = segue::serve::read_history(&text, source).map_err(anyhow::Error::msg)?;
    set_threads(1);
    let rec = segue::serve::Recommender::load(&a.run, None, a.k.max(1))?;
    let recs = rec.recommend(&plays, a.k, a.include_played)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&recs)?);
        return Ok(());
    }
    println!(
        "{:>3}  {:<40} {:>8} {:>9}",
        "#", "track_id", "score", "distance"
    );
    for (i, r) in recs.iter().enumerate() {
        println!(
            "{:>3}  {:<40} {:>8.4} {:>9.4}",
            i + 1,
            r.track_id,
            r.score,
            r.distance
        );
    }
    Ok(())
}

fn serve_cmd(a: ServeArgs) -> Result<()> {
    let limits = a.limits()?;
    set_threads(1);
    let t = std::time::Instant::now();
    let rec = segue::serve::Recommender::load(
        &a.run,
        index_arg(a.index.as_deref(), a.ef_search)?,
        a.max_k,
    )?;
    tracing::info!(
        "loaded {} ({} tracks) in {:.1} s",
        a.run.display(),
        rec.catalogue(),
        t.elapsed().as_secs_f64()
    );
    segue::serve::http::serve(std::sync::Arc::new(rec), &a.addr, limits, a.workers)
        .with_context(|| format!("serving on {}", a.addr))
}

#[derive(Args)]
struct DemoArgs {
    /// The run folder (an earlier demo there is replaced; any other existing folder is refused).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Seed of the world and of every stage.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A smaller demo (fewer sessions, rounds, seeds and episodes), for tests.
    #[arg(long, hide = true)]
    quick: bool,
}

#[derive(Args)]
struct RunArgs {
    /// The run config: [sample] (logs, tracks, records…), [songs], [encoder], [simulator], [agent], [pipeline].
    #[arg(long)]
    config: PathBuf,
    /// The run folder.
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing run folder.
    #[arg(long)]
    force: bool,
    /// A synthetic world's folder: score every policy under its true model too.
    #[arg(long)]
    world: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    /// `segue train` run folders (all on the same sample and encoder).
    #[arg(long, num_args = 1..)]
    runs: Vec<PathBuf>,
    /// The sample (default: the runs' sample).
    #[arg(long)]
    sample: Option<PathBuf>,
    /// The encoder run (default: the runs' encoder).
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// A TOML run config whose [simulator] table replaces the runs' simulator settings.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Evaluation seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    seeds: Vec<u64>,
    /// Episodes per policy and seed.
    #[arg(long, default_value_t = 200)]
    episodes: usize,
    /// Leave the baselines out.
    #[arg(long)]
    no_baselines: bool,
    /// Only these policies, comma-separated: random, popularity, logged, content, greedy, and the
    /// learned ones by a prefix of their names (ddpg, td3+wolpertinger, ...).
    #[arg(long, value_delimiter = ',')]
    policies: Vec<String>,
    /// Also score every learned policy re-ranking this many candidates (Wolpertinger's k), comma-separated: e.g. 64,256.
    #[arg(long, value_delimiter = ',')]
    candidates: Vec<usize>,
    /// A synthetic world's folder (from `segue synth`): adds each policy's exact score under the true model and the oracle ceilings.
    #[arg(long)]
    world: Option<PathBuf>,
    /// Also play the simulators' own one-step choices among the greedy baseline's candidates, as reference rows (not baselines): the held-out simulator's shows how high one-step play can score there; the training simulator's, played in the held-out one, how much of that a policy fitted to the training simulator can reach.
    #[arg(long)]
    sim_oracle: bool,
    /// With --world: also score the posterior-greedy reference under the true model: the true model's one-step choice for a user inferred from the whole session (the training sessions' users weighed by the likelihood of every response heard), an upper reference for policies that infer the user from the history.
    #[arg(long, requires = "world")]
    posterior: bool,
    /// With --posterior: weigh the users by the last N responses only, as a policy whose state holds the last N plays hears them (the tracks played before still move the model's state).
    #[arg(long, requires = "posterior", value_parser = clap::value_parser!(u64).range(1..))]
    posterior_window: Option<u64>,
    /// Write the report here as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct TrainArgs {
    /// The algorithm (overrides the config's agent.algo).
    #[arg(long, value_enum)]
    algo: Option<segue::agent::Algo>,
    /// A sample folder written by `segue sample`.
    #[arg(long)]
    sample: PathBuf,
    /// A finished `segue encode` run on that sample.
    #[arg(long)]
    encoder: PathBuf,
    /// The run folder to write.
    #[arg(long)]
    out: PathBuf,
    /// A TOML run config ([agent] and [simulator] tables); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed of the agent (networks, exploration, episodes).
    #[arg(long)]
    seed: Option<u64>,
    /// Training rounds.
    #[arg(long)]
    rounds: Option<usize>,
    /// Wolpertinger candidates re-ranked by the critic (1: the nearest track).
    #[arg(long)]
    candidates: Option<usize>,
    /// The state: the encoder's latent as trained (frozen), or fine-tuned with the critic.
    #[arg(long, value_enum)]
    encoder_mode: Option<segue::agent::EncoderMode>,
    /// A diagnostic for synthetic data: the folder of the `segue synth` world the sample was
    /// drawn from; training episodes and validation play against its hidden users (the true
    /// model) instead of the simulators. Its rows in `segue eval` are named `ALGO@truth`.
    #[arg(long)]
    world: Option<PathBuf>,
    /// Replace an existing run folder.
    #[arg(long)]
    force: bool,
    /// Continue the run in --out from its checkpoint.
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// Stop after this many rounds (resume later with --resume).
    #[arg(long)]
    stop_after: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct SongsArgs {
    /// A sample folder written by `segue sample`.
    #[arg(long)]
    sample: PathBuf,
    #[command(flatten)]
    output: OutputArgs,
    /// Where vectors come from.
    #[arg(long, value_enum)]
    source: Option<segue::songs::space::SongSource>,
    /// Dimension of learned embeddings.
    #[arg(long)]
    dim: Option<usize>,
    /// Seed of the embedding training.
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Subcommand)]
enum BenchCommand {
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
struct BenchServeArgs {
    /// The server's address.
    #[arg(long)]
    addr: String,
    /// The history to post (JSON list of plays or log CSV).
    #[arg(long)]
    history: PathBuf,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// The server's pid: its resident memory before and after.
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long)]
    json: bool,
}

fn bench_serve(a: BenchServeArgs) -> Result<()> {
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
struct BenchAgentArgs {
    #[arg(long, value_enum, default_value = "ddpg")]
    algo: segue::agent::Algo,
    #[arg(long, default_value_t = 96)]
    state_dim: usize,
    #[arg(long, default_value_t = 32)]
    action_dim: usize,
    #[arg(long, default_value_t = 256)]
    hidden: usize,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Threads of the tensor kernels.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds to measure (after 20 warm-up updates).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Print one JSON line.
    #[arg(long)]
    json: bool,
}

fn bench_agent(a: BenchAgentArgs) -> Result<()> {
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
        "segue (burn flex) {}: {} threads, batch {}, hidden {}, state {}, action {}: {:.1} updates/s ({} in {:.1} s); {}",
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
struct BenchSimulatorArgs {
    /// A sample folder; its training transitions are the keys.
    #[arg(long)]
    sample: PathBuf,
    /// A finished `segue encode` run on that sample.
    #[arg(long)]
    encoder: PathBuf,
    /// Held-out transitions used as queries, at most.
    #[arg(long, default_value_t = 2000)]
    queries: usize,
    /// HNSW search beams, one run each.
    #[arg(long, value_delimiter = ',', default_value = "32,64,128")]
    ef: Vec<usize>,
    /// Write the scaled keys and queries as PREFIX.base.f32 and PREFIX.query.f32.
    #[arg(long)]
    export: Option<String>,
    /// A TOML run config ([simulator] table: k, alpha, radius).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct EncodeArgs {
    /// Autoencoder structure.
    #[arg(long, value_enum)]
    structure: Option<segue::encoder::Structure>,
    /// A sample folder written by `segue sample`.
    #[arg(long)]
    sample: PathBuf,
    /// A song space folder written by `segue songs` (default: build one into RUN_DIR/songs).
    #[arg(long)]
    songs: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    /// Continue the run in --out from its checkpoint.
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// Stop after this many epochs in this invocation (continue later with --resume).
    #[arg(long)]
    stop_after: Option<usize>,
    /// Epochs at most.
    #[arg(long)]
    epochs: Option<usize>,
    /// Size of the latent state.
    #[arg(long)]
    latent: Option<usize>,
    /// Seed of the weights and batch order.
    #[arg(long)]
    seed: Option<u64>,
    /// Threads for the tensor kernels (0: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Where the networks run (wgpu and cuda need the cargo feature of the same name).
    #[arg(long, value_enum)]
    backend: Option<segue::encoder::config::Backend>,
}

#[derive(Args)]
struct SimulateArgs {
    /// A sample folder written by `segue sample`.
    #[arg(long)]
    sample: PathBuf,
    /// A finished `segue encode` run on that sample.
    #[arg(long)]
    encoder: PathBuf,
    /// A TOML run config ([simulator] table); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Episodes per policy.
    #[arg(long)]
    episodes: Option<usize>,
    /// Seed of the starting histories and the responses.
    #[arg(long)]
    seed: Option<u64>,
    /// Stochastic (draw the response) or expected (reward = its probability).
    #[arg(long, value_enum)]
    mode: Option<segue::simulator::config::ResponseMode>,
    /// The synthetic world the sample was drawn from: also score its true model on the held-out transitions (the best fidelity any simulator could reach).
    #[arg(long)]
    world: Option<PathBuf>,
    /// Write the report here as JSON.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BenchEncoderArgs {
    /// Autoencoder structure.
    #[arg(long, value_enum, default_value = "a")]
    structure: segue::encoder::Structure,
    /// Windows per batch (default: the encoder config's).
    #[arg(long)]
    batch: Option<usize>,
    /// Song-vector dimension.
    #[arg(long, default_value_t = 30)]
    dim: usize,
    /// LSTM hidden units (default: the encoder config's).
    #[arg(long)]
    hidden: Option<usize>,
    /// Latent size (default: the encoder config's).
    #[arg(long)]
    latent: Option<usize>,
    /// Decoder kind (default: the encoder config's).
    #[arg(long, value_enum)]
    decoder: Option<segue::encoder::config::Decoder>,
    /// Timed updates.
    #[arg(long, default_value_t = 200)]
    updates: usize,
    /// Threads (0: every core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

#[derive(Args)]
struct AnnArgs {
    /// Prefix of PREFIX.base.f32, PREFIX.query.f32 and (optional) PREFIX.gt.u32.
    #[arg(long, required_unless_present = "synthetic_tracks", default_value = "")]
    data: String,
    /// Instead of files: the song vectors (official features, scaled) of a synthetic world of
    /// this many tracks, with 1,000 seeded queries near real tracks.
    #[arg(long)]
    synthetic_tracks: Option<usize>,
    /// With --synthetic-tracks: write the vectors as PREFIX.base.f32 and PREFIX.query.f32 (for
    /// the peer scripts in bench/ann) and stop.
    #[arg(long)]
    export: Option<String>,
    /// Vector dimension.
    #[arg(long, default_value_t = 48)]
    dim: usize,
    /// HNSW links per node.
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// HNSW candidates while building.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// HNSW candidates while searching, one run each.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
    ef: Vec<usize>,
    /// Queries timed one at a time on the exact backend.
    #[arg(long, default_value_t = 200)]
    exact_queries: usize,
}

#[derive(Args)]
struct SynthArgs {
    /// Sessions to generate.
    #[arg(long)]
    sessions: Option<usize>,
    /// Tracks in the catalogue.
    #[arg(long)]
    tracks: Option<usize>,
    /// Log files (one day each).
    #[arg(long)]
    files: Option<usize>,
    /// Master seed.
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    output: OutputArgs,
    /// Write .csv.gz files.
    #[arg(long)]
    gzip: bool,
    /// Users scored by the reference policies (0 skips the table).
    #[arg(long)]
    reference_users: Option<usize>,
    /// Files generated at once (0: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

/// Where a command writes and how it reads its run config.
#[derive(Args)]
struct OutputArgs {
    /// Output folder (written whole or not at all).
    #[arg(long)]
    out: PathBuf,
    /// Replace the output folder if it exists.
    #[arg(long)]
    force: bool,
    /// A TOML run config; the command reads its own table ([sample], [synth], [songs]) and flags
    /// override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// The sampling flags that `segue sample` and `segue sample-merge` share; each overrides the
/// config's [sample] table.
#[derive(Args)]
struct SampleFlags {
    /// Track-feature files (tf_*.csv) or folders; the sampled tracks' features are kept.
    #[arg(long, num_args = 1..)]
    tracks: Vec<PathBuf>,
    /// Target number of records (shared evenly between the files).
    #[arg(long)]
    records: Option<u64>,
    /// Master seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Split fractions train,validation,test (by session).
    #[arg(long, value_parser = parse_split)]
    split: Option<data::SplitConfig>,
    /// Skip and count unparsable rows instead of stopping at the first.
    #[arg(long)]
    skip_bad_rows: bool,
}

impl SampleFlags {
    fn apply(self, cfg: &mut SampleConfig) {
        if !self.tracks.is_empty() {
            cfg.tracks = self.tracks;
        }
        if let Some(v) = self.records {
            cfg.records = v;
        }
        if let Some(v) = self.seed {
            cfg.seed = v;
        }
        if let Some(v) = self.split {
            cfg.split = v;
        }
        cfg.skip_bad_rows |= self.skip_bad_rows;
    }
}

#[derive(Args)]
struct SampleArgs {
    /// Session-log files (.csv, .csv.gz) or folders holding them.
    #[arg(long, num_args = 1.., required_unless_present = "config")]
    logs: Vec<PathBuf>,
    #[command(flatten)]
    flags: SampleFlags,
    #[command(flatten)]
    output: OutputArgs,
    /// Files read at once (0: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct SamplePlanArgs {
    /// Session-log files (.csv, .csv.gz) or folders holding them.
    #[arg(long, num_args = 1.., conflicts_with = "names_from")]
    logs: Vec<PathBuf>,
    /// Read the file names from this file (one per line; - is standard input) instead of
    /// searching --logs: names of files on storage that only the engine reads (hdfs://, s3a://).
    #[arg(long)]
    names_from: Option<PathBuf>,
    /// Target number of records (shared evenly between the files).
    #[arg(long)]
    records: Option<u64>,
    /// Master seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Skip and count unparsable rows instead of stopping at the first.
    #[arg(long)]
    skip_bad_rows: bool,
    /// A TOML run config; its [sample] table is read and flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct SampleMapArgs {
    /// The log file; - reads it from standard input (then --name is required).
    #[arg(long)]
    input: PathBuf,
    /// The file's name in the plan (default: --input).
    #[arg(long)]
    name: Option<PathBuf>,
    /// The file's index in the plan.
    #[arg(long)]
    index: u64,
    /// Files in the plan.
    #[arg(long)]
    files: u64,
    /// The sample's target record count.
    #[arg(long)]
    records: u64,
    /// Master seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip and count unparsable rows instead of stopping at the first.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Where the partial goes; - is standard output.
    #[arg(long, default_value = "-")]
    out: PathBuf,
}

#[derive(Args)]
struct SampleMergeArgs {
    /// Partials (*.part) written by `segue sample-map`, or folders holding them.
    #[arg(long, num_args = 1.., required = true)]
    partials: Vec<PathBuf>,
    /// The inputs as the user named them, recorded in the manifest (default: the partials' files).
    #[arg(long, num_args = 1..)]
    logs: Vec<PathBuf>,
    // The plan's --records, --seed and --skip-bad-rows are given again.
    #[command(flatten)]
    flags: SampleFlags,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Args)]
struct StatsArgs {
    /// Log files, folders of logs, or a sample folder written by `segue sample`.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Skip and count unparsable rows instead of stopping at the first.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Files read at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_split(s: &str) -> Result<data::SplitConfig, String> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let [train, validation, test] = parts[..] else {
        return Err("expected three fractions: train,validation,test".into());
    };
    let cfg = data::SplitConfig {
        train,
        validation,
        test,
    };
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

/// The tables of a run config that the commands read.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ConfigFile {
    sample: SampleConfig,
    synth: SynthConfig,
    songs: segue::songs::space::SongsConfig,
    encoder: segue::encoder::EncoderConfig,
    simulator: segue::simulator::SimulatorConfig,
    agent: segue::agent::AgentConfig,
}

fn demo(a: DemoArgs, progress: bool) -> Result<()> {
    let t = std::time::Instant::now();
    let (synth_cfg, mut stages) = segue::pipeline::demo_config(a.seed, a.quick);
    if a.out.exists() {
        // Only an earlier demo (or an empty folder) is replaced.
        let earlier = a.out.join("world").join("world.json").is_file()
            || std::fs::read_dir(&a.out).is_ok_and(|mut d| d.next().is_none());
        if !earlier {
            anyhow::bail!(
                "{} exists and is not an earlier demo: choose another --out",
                a.out.display()
            );
        }
        std::fs::remove_dir_all(&a.out)
            .with_context(|| format!("replacing {}", a.out.display()))?;
    }
    let world = a.out.join("world");
    segue::synth::run_synth(&synth_cfg, &world, true, false)?;
    stages.sample.logs = vec![world.clone()];
    stages.sample.tracks = vec![world.clone()];
    set_threads(1);
    let r = segue::pipeline::run_pipeline(&stages, &a.out, Some(&world), true, progress)?;
    print_pipeline(&r, &a.out);
    println!("demo wall time {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn run_cmd(a: RunArgs, progress: bool) -> Result<()> {
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("reading {}", a.config.display()))?;
    let stages: segue::pipeline::Stages =
        toml::from_str(&text).with_context(|| format!("parsing {}", a.config.display()))?;
    set_threads(1);
    let r = segue::pipeline::run_pipeline(&stages, &a.out, a.world.as_deref(), a.force, progress)?;
    print_pipeline(&r, &a.out);
    Ok(())
}

fn print_pipeline(r: &segue::pipeline::PipelineReport, out: &std::path::Path) {
    print!(
        "{}",
        stats::table(&[("all input", &r.sample.input), ("sample", &r.sample.sample)])
    );
    let t = &r.encoder.test;
    println!(
        "\nencoder (structure {:?}): total MSE {:.4}, song MSE {:.4}, response accuracy {:.4} (reference study: 0.0111, -, 0.8889)",
        r.encoder.structure, t.total_mse, t.song_mse, t.response_accuracy
    );
    let f = &r.fidelity;
    println!(
        "simulator fidelity: accuracy {:.4} (base {:.4}), AUC {:.4}, log-loss {:.4} (base {:.4})\n",
        f.accuracy, f.base_accuracy, f.auc, f.log_loss, f.base_log_loss
    );
    print!("{}", segue::agent::eval::table(&r.eval));
    let stages: Vec<String> = r
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.1} s"))
        .collect();
    println!("\n{}", stages.join(", "));
    println!("report: {}", out.join("report.md").display());
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    use segue::agent::eval::{EvalOptions, run_eval};
    let sim = match &a.config {
        Some(_) => Some(read_config(a.config.as_ref())?.simulator),
        None => None,
    };
    set_threads(1);
    let opts = EvalOptions {
        seeds: a.seeds.clone(),
        episodes: a.episodes,
        baselines: !a.no_baselines,
        world: a.world.clone(),
        policies: (!a.policies.is_empty()).then(|| a.policies.clone()),
        candidates: a.candidates.clone(),
        sim_oracle: a.sim_oracle,
        posterior: a.posterior,
        posterior_window: a.posterior_window.map(|w| w as usize),
    };
    let r = run_eval(
        &a.runs,
        a.sample.as_deref(),
        a.encoder.as_deref(),
        sim.as_ref(),
        &opts,
    )?;
    if let Some(p) = &a.out {
        let text = serde_json::to_string_pretty(&r)? + "\n";
        segue::output::write_atomic(p, text.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print!("{}", segue::agent::eval::table(&r));
    Ok(())
}

fn train(a: TrainArgs, progress: bool) -> Result<()> {
    use segue::agent::train::{Outcome, TrainOptions, run_train};
    let file = read_config(a.config.as_ref())?;
    let mut cfg = file.agent;
    if let Some(v) = a.algo {
        cfg.algo = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.rounds {
        cfg.rounds = v;
    }
    if let Some(v) = a.candidates {
        cfg.candidates = v;
    }
    if let Some(v) = a.encoder_mode {
        cfg.encoder_mode = v;
    }
    set_threads(cfg.threads);
    let opts = TrainOptions {
        force: a.force,
        resume: a.resume,
        stop_after: a.stop_after,
        progress,
    };
    let r = match run_train(
        &a.sample,
        &a.encoder,
        &cfg,
        &file.simulator,
        a.world.as_deref(),
        &a.out,
        &opts,
    )? {
        Outcome::Paused { rounds_done } => {
            println!(
                "paused after {rounds_done} of {} rounds; continue with --resume",
                cfg.rounds
            );
            return Ok(());
        }
        Outcome::Finished(r) => r,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "{}: {} rounds, {} transitions, {} updates in {:.1} s ({:.0} updates/s); kept the weights of round {}{}",
        r.algo,
        r.rounds,
        r.transitions,
        r.updates,
        r.train_seconds,
        r.updates_per_s,
        r.kept_round + 1,
        r.best_valid_score
            .map_or(String::new(), |v| format!(" (validation score {v:.2})"))
    );
    println!(
        "\nscore out of {} ({} episodes, mean ± 95% CI):",
        file.simulator.horizon, file.simulator.episodes
    );
    println!(
        "  {:<48} {:>6} {:>7} {:>10} {:>10} {:>8}",
        "policy", "mean", "±95%", "not-skip", "uncovered", "tracks"
    );
    let rows = [
        Some(("held-out simulator", &r.heldout)),
        r.heldout_nearest
            .as_ref()
            .map(|e| ("held-out simulator", e)),
        Some(("training simulator", &r.train_sim)),
    ];
    for (sim, e) in rows.into_iter().flatten() {
        println!(
            "  {:<48} {:>6.2} {:>7.2} {:>10.4} {:>10.4} {:>8}",
            format!("{} in {sim}", e.policy),
            e.mean,
            e.ci95,
            e.not_skip_rate,
            e.uncovered,
            e.distinct_tracks
        );
    }
    println!("wrote {}", a.out.display());
    Ok(())
}

fn simulate(a: SimulateArgs) -> Result<()> {
    let mut cfg = read_config(a.config.as_ref())?.simulator;
    if let Some(v) = a.episodes {
        cfg.episodes = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.mode {
        cfg.mode = v;
    }
    set_threads(1);
    let r = segue::simulator::run::run_simulate(&a.sample, &a.encoder, &cfg, a.world.as_deref())?;
    if let Some(p) = &a.out {
        let text = serde_json::to_string_pretty(&r)? + "\n";
        segue::output::write_atomic(p, text.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let f = &r.fidelity;
    println!(
        "simulator: {} training keys, {} held-out keys, k {}, radius {}, {:?} keys, {} recent plays, alpha {} (scaled keys)",
        r.train_keys, r.test_keys, cfg.k, cfg.radius, cfg.metric, cfg.recent, cfg.alpha
    );
    println!("fidelity on {}", f.summary());
    let c = &r.classifier_fidelity;
    println!(
        "greedy baseline's skip classifier on the same transitions: accuracy {:.4}, AUC {:.4}, log-loss {:.4}",
        c.accuracy, c.auc, c.log_loss
    );
    if let Some(t) = &r.true_fidelity {
        println!(
            "the world's true model on the same transitions: accuracy {:.4}, AUC {:.4}, log-loss {:.4}",
            t.accuracy, t.auc, t.log_loss
        );
    }
    println!(
        "\nscore out of {} in the held-out simulator ({} × its not-skip rate {:.4} = {:.2}), {} episodes ({:?} responses):",
        cfg.horizon,
        cfg.horizon,
        r.test_not_skip_rate,
        cfg.horizon as f64 * r.test_not_skip_rate,
        cfg.episodes,
        cfg.mode
    );
    println!(
        "  {:<12} {:>6} {:>7} {:>10} {:>10} {:>8}",
        "policy", "mean", "±95%", "not-skip", "uncovered", "tracks"
    );
    for e in &r.baselines {
        println!(
            "  {:<12} {:>6.2} {:>7.2} {:>10.4} {:>10.4} {:>8}",
            e.policy, e.mean, e.ci95, e.not_skip_rate, e.uncovered, e.distinct_tracks
        );
    }
    Ok(())
}

/// Sizes the thread pool of the tensor kernels (once per process; 0 = every core).
fn set_threads(n: usize) {
    if n > 0 {
        // An error means the pool already exists (a second call): keep it.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
}

fn encode(a: EncodeArgs, progress: bool) -> Result<()> {
    let file = read_config(a.output.config.as_ref())?;
    let mut cfg = file.encoder;
    if let Some(v) = a.structure {
        cfg.structure = v;
    }
    if let Some(v) = a.epochs {
        cfg.max_epochs = v;
    }
    if let Some(v) = a.latent {
        cfg.latent = v;
    }
    if let Some(v) = a.seed {
        cfg.seed = v;
    }
    if let Some(v) = a.threads {
        cfg.threads = v;
    }
    if let Some(v) = a.backend {
        cfg.backend = v;
    }
    set_threads(cfg.threads);
    let opts = segue::encoder::EncodeOptions {
        force: a.output.force,
        resume: a.resume,
        stop_after: a.stop_after,
        progress,
    };
    let outcome = segue::encoder::run_encode(
        &a.sample,
        a.songs.as_deref(),
        &file.songs,
        &cfg,
        &a.output.out,
        &opts,
    )?;
    let r = match outcome {
        segue::encoder::Outcome::Paused { epochs_done } => {
            println!(
                "stopped after {epochs_done} epochs; continue with --resume (checkpoint in {})",
                a.output.out.display()
            );
            return Ok(());
        }
        segue::encoder::Outcome::Finished(r) => r,
    };
    if a.output.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let t = &r.test;
    println!(
        "structure {:?}: {} parameters, {} epochs (best {}), {:.1} s, {:.0} training windows/s",
        r.structure,
        r.parameters,
        r.epochs.len(),
        r.best_epoch + 1,
        r.train_seconds,
        r.sequences_per_s
    );
    println!(
        "test split: {} windows, {} steps (reference study in brackets)",
        t.windows, t.steps
    );
    println!("  total MSE          {:.4}   [0.0111]", t.total_mse);
    println!(
        "  song MSE           {:.4}   (mean-song baseline {:.4}, relative {:.3})",
        t.song_mse, t.mean_song_mse, t.relative_song_mse
    );
    if let Some(m) = t.song_layers_mse {
        println!("  song layers MSE    {m:.4}   [0.0018]");
    }
    println!(
        "  response accuracy  {:.4}   [0.8889] (majority-level baseline {:.4})",
        t.response_accuracy, t.majority_accuracy
    );
    println!("wrote {}", a.output.out.display());
    Ok(())
}

fn bench_simulator(a: BenchSimulatorArgs) -> Result<()> {
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

fn bench_encoder(a: BenchEncoderArgs) -> Result<()> {
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
        "structure {:?}, batch {}, {} steps, dim {}, hidden {}, latent {}, {} threads: {:.0} sequences/s; per update forward {:.2} ms, backward {:.2} ms, optimizer {:.2} ms",
        r.structure,
        r.batch,
        r.steps,
        r.dim,
        r.hidden,
        r.latent,
        r.threads,
        r.sequences_per_s,
        r.forward_ms,
        r.backward_ms,
        r.optimizer_ms
    );
    eprintln!("{}", serde_json::to_string(&r)?);
    Ok(())
}

fn songs(a: SongsArgs) -> Result<()> {
    let mut cfg = read_config(a.output.config.as_ref())?.songs;
    if let Some(v) = a.source {
        cfg.source = v;
    }
    if let Some(v) = a.dim {
        cfg.embedding.dim = v;
    }
    if let Some(v) = a.seed {
        cfg.embedding.seed = v;
    }
    let m = segue::songs::space::run_songs(&a.sample, &cfg, &a.output.out, a.output.force)?;
    if a.output.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(());
    }
    println!(
        "{:?} song space: {} tracks ({} with a vector of their own), {} dimensions",
        m.source, m.tracks, m.known, m.dim
    );
    let r = &m.retrieval;
    println!(
        "next-track retrieval on {} test transitions ({} from tracks without a vector):",
        r.transitions, r.unknown_queries
    );
    println!(
        "  hit@10  {:.4}   (popularity {:.4})",
        r.hit_at_10, r.popularity_hit_at_10
    );
    println!(
        "  hit@100 {:.4}   (popularity {:.4})",
        r.hit_at_100, r.popularity_hit_at_100
    );
    println!(
        "  from tracks with a vector of their own: hit@10 {:.4} (popularity {:.4}), hit@100 {:.4} (popularity {:.4})",
        r.known_hit_at_10,
        r.known_popularity_hit_at_10,
        r.known_hit_at_100,
        r.known_popularity_hit_at_100
    );
    println!("wrote {}", a.output.out.display());
    Ok(())
}

fn read_config(path: Option<&PathBuf>) -> Result<ConfigFile> {
    let Some(p) = path else {
        return Ok(ConfigFile::default());
    };
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))
}

fn synth(args: SynthArgs, progress: bool) -> Result<()> {
    let mut cfg = read_config(args.output.config.as_ref())?.synth;
    if let Some(v) = args.sessions {
        cfg.sessions = v;
    }
    if let Some(v) = args.tracks {
        cfg.tracks = v;
    }
    if let Some(v) = args.files {
        cfg.files = v;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(v) = args.reference_users {
        cfg.reference_users = v;
    }
    if let Some(v) = args.threads {
        cfg.threads = v;
    }
    cfg.gzip |= args.gzip;
    let run = segue::synth::run_synth(&cfg, &args.output.out, args.output.force, progress)?;
    let r = &run.report;
    if args.output.json {
        let v = serde_json::json!({ "report": r, "seconds": run.seconds });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} sessions, {} records, {} tracks in {} log and {} track-feature files: {} of CSV ({} on disk) in {:.2} s, {:.0} MB/s",
        stats::thousands(r.sessions),
        stats::thousands(r.records),
        stats::thousands(cfg.tracks as u64),
        r.log_files.len(),
        r.track_files.len(),
        stats::human_bytes(r.bytes_text),
        stats::human_bytes(r.bytes_on_disk),
        run.seconds,
        r.bytes_text as f64 / 1e6 / run.seconds.max(1e-9)
    );
    println!(
        "responses: skip_1 {:.4}  skip_2 {:.4}  skip_3 {:.4}  not_skipped {:.4}",
        r.rates[0], r.rates[1], r.rates[2], r.rates[3]
    );
    if let Some(t) = &r.reference {
        println!(
            "\nexpected not-skipped tracks out of {} under the true model, {} users (mean ± 95% CI):",
            t.horizon, t.users
        );
        for row in &t.rows {
            println!("  {:<20} {:>6.2} ± {:.2}", row.policy, row.mean, row.ci95);
        }
    }
    println!("wrote {}", args.output.out.display());
    Ok(())
}

fn sample(args: SampleArgs, progress: bool) -> Result<()> {
    let mut cfg = read_config(args.output.config.as_ref())?.sample;
    if !args.logs.is_empty() {
        cfg.logs = args.logs;
    }
    if let Some(v) = args.threads {
        cfg.threads = v;
    }
    args.flags.apply(&mut cfg);
    let report = data::run_sample(&cfg, &args.output.out, args.output.force, progress)?;
    print_sample_report(&report, &cfg, &args.output)
}

fn print_sample_report(
    report: &data::SampleReport,
    cfg: &SampleConfig,
    output: &OutputArgs,
) -> Result<()> {
    if output.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print!(
        "{}",
        stats::table(&[("all input", &report.input), ("sample", &report.sample)])
    );
    let spread = report.files.iter().map(|f| f.sampled_records);
    if let (Some(lo), Some(hi)) = (spread.clone().min(), spread.max()) {
        println!(
            "\n{} files, records per file {}..{} (target {} each)",
            report.files.len(),
            stats::thousands(lo),
            stats::thousands(hi),
            stats::thousands(cfg.records / report.files.len().max(1) as u64)
        );
    }
    let splits: Vec<String> = report
        .splits
        .iter()
        .map(|(s, c)| {
            format!(
                "{} {} sessions / {} records",
                s.name(),
                stats::thousands(c.sessions),
                stats::thousands(c.records)
            )
        })
        .collect();
    println!("split ({:?}): {}", report.split_rule, splits.join(", "));
    if let Some(tf) = &report.track_features {
        println!(
            "track features: {} of {} sampled tracks found ({} missing)",
            stats::thousands(tf.kept),
            stats::thousands(tf.kept + tf.missing),
            stats::thousands(tf.missing)
        );
    }
    let incomplete: u64 = report.input.incomplete_sessions.values().sum();
    let bad: u64 = report.input.bad_rows.values().sum();
    if incomplete > 0 || bad > 0 {
        println!(
            "left out: {} incomplete sessions ({} records), {} bad rows (see stats.json)",
            stats::thousands(incomplete),
            stats::thousands(report.input.incomplete_records),
            stats::thousands(bad)
        );
    }
    println!("wrote {}", output.out.display());
    Ok(())
}

fn sample_plan(args: SamplePlanArgs) -> Result<()> {
    let mut cfg = read_config(args.config.as_ref())?.sample;
    if let Some(v) = args.records {
        cfg.records = v;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    cfg.skip_bad_rows |= args.skip_bad_rows;
    let files = match &args.names_from {
        Some(p) => {
            let text = if p.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            };
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(PathBuf::from)
                .collect()
        }
        None => {
            if !args.logs.is_empty() {
                cfg.logs = args.logs;
            }
            if cfg.logs.is_empty() {
                anyhow::bail!("give the log files: --logs or --names-from");
            }
            data::run::discover(&cfg.logs, data::run::InputKind::Logs)?
        }
    };
    let plan = data::run::plan(files, cfg.records, cfg.seed, cfg.skip_bad_rows)?;
    println!("{}", serde_json::to_string_pretty(&plan)?);
    Ok(())
}

fn sample_map(args: SampleMapArgs) -> Result<()> {
    use std::io::{IsTerminal, Write};
    let from_stdin = args.input.as_os_str() == "-";
    let source = if from_stdin {
        let Some(name) = args.name else {
            anyhow::bail!("--input - needs --name: the file's name in the plan");
        };
        data::csv::Source::Stream {
            name,
            reader: Box::new(std::io::stdin()),
        }
    } else {
        match args.name {
            Some(name) => data::csv::Source::Stream {
                reader: Box::new(
                    std::fs::File::open(&args.input)
                        .with_context(|| format!("opening {}", args.input.display()))?,
                ),
                name,
            },
            None => data::csv::Source::File(args.input.clone()),
        }
    };
    let to_stdout = args.out.as_os_str() == "-";
    if to_stdout && std::io::stdout().is_terminal() {
        anyhow::bail!("a partial is binary: give --out FILE or redirect standard output");
    }
    let bytes = data::run::map_file(
        source,
        args.records,
        args.files,
        args.index,
        args.seed,
        args.skip_bad_rows,
    )?;
    if to_stdout {
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)
            .and_then(|()| out.flush())
            .context("writing the partial to standard output")?;
    } else {
        segue::output::write_atomic(&args.out, &bytes)
            .with_context(|| format!("writing {}", args.out.display()))?;
    }
    Ok(())
}

fn sample_merge(args: SampleMergeArgs, progress: bool) -> Result<()> {
    let mut cfg = read_config(args.output.config.as_ref())?.sample;
    // The merge reads no logs: without --logs, the manifest records the partials' files.
    cfg.logs = args.logs;
    args.flags.apply(&mut cfg);
    let report = data::run::run_sample_merge(
        &cfg,
        &args.partials,
        &args.output.out,
        args.output.force,
        progress,
    )?;
    print_sample_report(&report, &cfg, &args.output)
}

fn stats_cmd(args: StatsArgs, progress: bool) -> Result<()> {
    if let [dir] = &args.inputs[..]
        && is_sample_dir(dir)
    {
        let loaded = data::load_sample_dir(dir)?;
        let mut s = loaded.sample.stats();
        s.bytes_on_disk = loaded.report.sample.bytes_on_disk;
        s.bytes_uncompressed = loaded.report.sample.bytes_uncompressed;
        s.files = 1;
        let splits = data::run::split_counts(&loaded.sample);
        if args.json {
            let v = serde_json::json!({ "stats": s, "splits": splits, "split_rule": loaded.manifest.split_rule });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            print!("{}", stats::report("sample", &s));
            println!("\nsplits ({:?})", loaded.manifest.split_rule);
            for (k, c) in splits {
                println!(
                    "  {:<10} {:>10} sessions {:>12} records",
                    k.name(),
                    stats::thousands(c.sessions),
                    stats::thousands(c.records)
                );
            }
        }
        return Ok(());
    }
    let s = data::run_stats(&args.inputs, args.skip_bad_rows, args.threads, progress)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", stats::report("all input", &s));
    }
    Ok(())
}

fn bench_ann(a: AnnArgs) -> Result<()> {
    if let (Some(prefix), Some(n)) = (&a.export, a.synthetic_tracks) {
        let (base, queries, dim) = segue::songs::bench::synthetic(n, 1_000, 1);
        for (suffix, v) in [("base", &base), ("query", &queries)] {
            let path = format!("{prefix}.{suffix}.f32");
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            segue::output::write_atomic(std::path::Path::new(&path), &bytes)
                .with_context(|| format!("writing {path}"))?;
        }
        println!("wrote {prefix}.base.f32 ({n} × {dim}) and {prefix}.query.f32 (1000 × {dim})");
        return Ok(());
    }
    let rows = segue::songs::bench::run(
        &a.data,
        a.synthetic_tracks,
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

/// Keeps freed memory in the process instead of returning it to the kernel after every large
/// free. Training allocates and frees many ~100 KB tensors per step; with glibc's defaults each
/// became a fresh mmap and its page faults, which cost ~25% of an encoder update
/// (`segue bench encoder`: 10.8k → 13-15k sequences/s).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of our output goes away
    // (`segue stats … | head`), instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tune_allocator();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_max_level(if cli.verbose {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        })
        .init();
    let progress = !cli.quiet;
    let result = match cli.command {
        Command::Sample(a) => sample(a, progress),
        Command::SamplePlan(a) => sample_plan(a),
        Command::SampleMap(a) => sample_map(a),
        Command::SampleMerge(a) => sample_merge(a, progress),
        Command::Stats(a) => stats_cmd(a, progress),
        Command::Synth(a) => synth(a, progress),
        Command::Songs(a) => songs(a),
        Command::Encode(a) => encode(a, progress),
        Command::Simulate(a) => simulate(a),
        Command::Train(a) => train(a, progress),
        Command::Eval(a) => eval_cmd(a),
        Command::Demo(a) => demo(a, progress),
        Command::Recommend(a) => recommend_cmd(a),
        Command::Serve(a) => serve_cmd(a),
        Command::Run(a) => run_cmd(a, progress),
        Command::Bench(BenchCommand::Ann(a)) => bench_ann(a),
        Command::Bench(BenchCommand::Encoder(a)) => bench_encoder(a),
        Command::Bench(BenchCommand::Simulator(a)) => bench_simulator(a),
        Command::Bench(BenchCommand::Agent(a)) => bench_agent(a),
        Command::Bench(BenchCommand::Serve(a)) => bench_serve(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}
