//! The `segue` command line: a thin front over the library.
//!
//! Exit codes: 0 success, 1 an error (its cause chain is printed), 2 bad usage (clap).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;
use cli::*;

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
    /// Write a sample's logged transitions as offline-RL data (.npz: observations, actions, rewards, terminals, timeouts) for d3rlpy, Minari and other Python tools.
    Export(ExportArgs),
    /// The WSDM Cup 2019 skip-prediction task on a sample: skip_2 of each session's second half from its first, scored by Mean Average Accuracy, models side by side with bootstrap intervals.
    Skips(SkipsArgs),
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

/// Keeps freed memory in the process instead of returning it to the kernel after every large
/// free. Training allocates and frees many ~100 KB tensors per step; with glibc's defaults each
/// became a fresh mmap and its page faults, a large share of an encoder update (measured with
/// `segue bench encoder`, bench/README.md).
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
        Command::Export(a) => export(a),
        Command::Train(a) => train(a, progress),
        Command::Skips(a) => skips(a),
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
