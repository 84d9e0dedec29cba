//! The whole pipeline in one call — sample → song space → encoder → simulator → DDPG and TD3
//! over several seeds → evaluation → report — for `segue run` (the user's logs) and
//! `segue demo` (a synthetic world generated on the fly).
//!
//! The run folder: `sample/`, `encoder/` (with its song space), `agents/<algo>-<seed>/`,
//! `eval.json`, `pipeline.json` (every figure of the report) and `report.md` with
//! `scores.png` and `learning.png` beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::agent::AgentError;
use crate::agent::train::{RoundRecord, Setup, TrainOptions, TrainReport, run_train_with};
use crate::agent::{AgentConfig, Algo};
use crate::data::error::DataError;
use crate::data::run::{SampleReport, discover_logs};
use crate::data::{SampleConfig, Split};
use crate::encoder::EncoderConfig;
use crate::encoder::train::{EncodeError, EncodeOptions, EncodeReport, Outcome, run_encode};
use crate::eval::error::EvalError;
use crate::eval::report::EvalReport;
use crate::eval::run::{EvalOptions, run_eval};
use crate::output::{FolderError, io_at, write_json};
use crate::simulator::SimError;
use crate::simulator::SimulatorConfig;
use crate::simulator::fidelity::Fidelity;
use crate::simulator::memory::{encode_transitions, transitions};
use crate::songs::space::SongsConfig;
use crate::synth::SynthConfig;

/// What can stop `segue run` or `segue demo`: any stage's error, or the run folder.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Encoder(#[from] EncodeError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error("{} exists: pass --force to replace it", path.display())]
    Exists { path: std::path::PathBuf },
}

type Result<T> = std::result::Result<T, PipelineError>;

/// The `[pipeline]` table: which agents to train and how to evaluate them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    pub algos: Vec<Algo>,
    /// Training seeds: one run per algorithm and seed.
    pub seeds: Vec<u64>,
    /// Evaluation seeds (starting histories and responses).
    pub eval_seeds: Vec<u64>,
    /// Episodes per policy and evaluation seed.
    pub eval_episodes: usize,
    /// Agents trained at once, each on one core (0: every core).
    pub parallel: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            algos: vec![Algo::Ddpg, Algo::Td3],
            seeds: vec![1, 2, 3, 4, 5],
            eval_seeds: vec![1, 2, 3, 4, 5],
            eval_episodes: 200,
            parallel: 0,
        }
    }
}

/// The `[evaluation]` table: where else the trained agents are scored.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Logs the agents never saw (files, folders, sample folders), e.g. the next period's: the
    /// run also scores every policy on their complete sessions (`segue eval --logs`).
    pub logs: Vec<PathBuf>,
}

/// A run config: every stage's settings, one table each. Every command reads this one type
/// (`--config`), each taking its tables; unknown tables and keys are refused
/// ([`crate::config::load`] names them).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// `segue synth` (and `segue demo`'s world).
    pub synth: SynthConfig,
    pub sample: SampleConfig,
    pub songs: SongsConfig,
    pub encoder: EncoderConfig,
    pub simulator: SimulatorConfig,
    pub agent: AgentConfig,
    pub pipeline: PipelineConfig,
    pub evaluation: EvaluationConfig,
}

/// One trained agent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AgentRun {
    pub algo: Algo,
    pub seed: u64,
    pub dir: PathBuf,
    pub report: TrainReport,
    pub curve: Vec<RoundRecord>,
}

/// Everything the report shows (`pipeline.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PipelineReport {
    pub sample: SampleReport,
    pub encoder: EncodeReport,
    /// The training split's simulator on the held-out transitions.
    pub fidelity: Fidelity,
    pub agents: Vec<AgentRun>,
    pub eval: EvalReport,
    /// The same policies scored on `[evaluation] logs`, the logs they never saw.
    #[serde(default)]
    pub eval_logs: Option<EvalReport>,
    /// Wall seconds of each stage.
    pub seconds: BTreeMap<String, f64>,
    /// The synthetic world scored under its true model, if any.
    pub world: Option<PathBuf>,
}

/// The demo's synthetic world and stage settings: small enough to run in about a minute on
/// two cores. `quick` shrinks it further (for tests): fewer sessions, rounds, seeds, episodes.
pub fn demo_config(seed: u64, quick: bool) -> RunConfig {
    let synth = SynthConfig {
        sessions: if quick { 1_500 } else { 3_000 },
        tracks: 800,
        files: 2,
        seed,
        reference_users: 0,
        ..Default::default()
    };
    let mut s = RunConfig {
        synth,
        ..Default::default()
    };
    s.sample.records = 1_000_000;
    s.sample.seed = seed;
    s.encoder.hidden = 32;
    s.encoder.latent = 16;
    s.encoder.max_epochs = 4;
    s.encoder.seed = seed;
    s.simulator.episodes = 100;
    s.simulator.seed = seed;
    // Keys placed by a skip model that reads the last 5 plays: on this world it predicts
    // held-out plays better than the scaled keys (docs/results.md, "Keys that read the recent
    // plays").
    s.simulator.recent = 5;
    s.simulator.metric = crate::simulator::config::KeyMetric::Learned;
    s.agent.hidden = 64;
    s.agent.batch = 64;
    s.agent.buffer = 50_000;
    s.agent.envs = 16;
    // Few rounds and seeds keep the demo to a minute: on this world the validation curve is
    // flat after the first rounds (docs/results.md, "Where the demo's time goes", has the
    // longer protocol beside it).
    s.agent.rounds = if quick { 6 } else { 10 };
    s.agent.updates_per_step = 8;
    s.agent.warmup = 200;
    s.agent.candidates = 16;
    // The 20 most played training tracks join the critic's candidates (chosen on the validation
    // split among 0, 20, 50 and 200; docs/results.md).
    s.agent.popular_candidates = 20;
    // The last 5 plays in the agents' state, and the expected reward of each step to learn
    // from (docs/results.md).
    s.agent.recent_tracks = 5;
    s.agent.expected_rewards = true;
    // The simulator's skip model joins the critic in the re-ranking (docs/results.md).
    s.agent.skip_model_weight = 3.0;
    s.agent.eval_every = 2;
    s.agent.eval_episodes = 50;
    let n = if quick { 2 } else { 3 };
    s.pipeline.seeds = (seed..seed + n).collect();
    s.pipeline.eval_seeds = (seed..seed + n).collect();
    s.pipeline.eval_episodes = if quick { 60 } else { 80 };
    s
}

/// Runs every stage into `out` (replaced if it exists and `force`). `world`: the folder of a
/// synthetic world whose true model scores the policies.
pub fn run_pipeline(
    stages: &RunConfig,
    out: &Path,
    world: Option<&Path>,
    force: bool,
    progress: bool,
) -> Result<PipelineReport> {
    let mut seconds = BTreeMap::new();
    if out.exists() && !force {
        return Err(PipelineError::Exists {
            path: out.to_path_buf(),
        });
    }
    std::fs::create_dir_all(out).map_err(io_at(out))?;
    // Runs of an earlier pipeline in this folder would mix with this one's.
    let agents_dir = out.join("agents");
    if agents_dir.exists() {
        std::fs::remove_dir_all(&agents_dir).map_err(io_at(&agents_dir))?;
    }
    let lap = |name: &str, t: Instant, seconds: &mut BTreeMap<String, f64>| {
        let s = t.elapsed().as_secs_f64();
        tracing::info!("{name}: {s:.1} s");
        seconds.insert(name.to_string(), s);
    };

    // Logs to score on are looked for before the work, not after it.
    if !stages.evaluation.logs.is_empty() {
        discover_logs(&stages.evaluation.logs)?;
    }
    let t = Instant::now();
    let sample_dir = out.join("sample");
    let sample = crate::data::run_sample(&stages.sample, &sample_dir, true, progress)?;
    lap("sample", t, &mut seconds);

    let t = Instant::now();
    let enc_dir = out.join("encoder");
    let opts = EncodeOptions {
        force: true,
        progress,
        ..Default::default()
    };
    let encode = || {
        run_encode(
            &sample_dir,
            None,
            &stages.songs,
            &stages.encoder,
            &enc_dir,
            &opts,
        )
    };
    let encoder = match crate::workers::in_pool(stages.encoder.threads, encode)? {
        Outcome::Finished(r) => *r,
        Outcome::Paused { .. } => unreachable!("no stop_after was given"),
    };
    lap("songs + encoder", t, &mut seconds);

    let t = Instant::now();
    let setup = Setup::load(&sample_dir, &enc_dir, &stages.simulator, &stages.agent)?;
    let test = transitions(&setup.sample, Split::Test, setup.encoder.model.steps);
    let (st, ac) = encode_transitions(&setup.encoder, &test);
    let fid = setup
        .train_sim
        .fidelity_on(&setup.encoder.songs, &test, &st, &ac);
    lap("simulator fidelity", t, &mut seconds);

    let t = Instant::now();
    let agents = train_agents(stages, &setup, &out.join("agents"), progress)?;
    drop(setup);
    lap("agents", t, &mut seconds);

    let t = Instant::now();
    let runs: Vec<PathBuf> = agents.iter().map(|a| a.dir.clone()).collect();
    let opts = EvalOptions {
        seeds: stages.pipeline.eval_seeds.clone(),
        episodes: stages.pipeline.eval_episodes,
        baselines: true,
        world: world.map(Path::to_path_buf),
        policies: None,
        candidates: Vec::new(),
        sim_oracle: false,
        posterior: false,
        posterior_window: None,
        logs: Vec::new(),
    };
    let eval = run_eval(&runs, None, None, None, &opts)?;
    lap("evaluation", t, &mut seconds);

    let mut report = PipelineReport {
        sample,
        encoder,
        fidelity: fid,
        agents,
        eval,
        eval_logs: None,
        seconds,
        world: world.map(Path::to_path_buf),
    };
    write_report(out, &report)?;
    if !stages.evaluation.logs.is_empty() {
        // The report on the sample is written first: a failure here leaves it whole.
        let t = Instant::now();
        let on_logs = EvalOptions {
            // The true model knows the world's sessions, not those of other logs.
            world: None,
            logs: stages.evaluation.logs.clone(),
            ..opts
        };
        report.eval_logs = Some(run_eval(&runs, None, None, None, &on_logs)?);
        lap("evaluation on [evaluation] logs", t, &mut report.seconds);
        write_report(out, &report)?;
    }
    Ok(report)
}

/// Trains one agent per algorithm and seed, `parallel` at a time, each in its own pool of
/// `[agent] threads` threads (at least one), all in the one loaded `setup` (simulators and
/// encoded transitions).
fn train_agents(
    stages: &RunConfig,
    setup: &Setup,
    dir: &Path,
    progress: bool,
) -> Result<Vec<AgentRun>> {
    let p = &stages.pipeline;
    let jobs: Vec<(Algo, u64)> = p
        .algos
        .iter()
        .flat_map(|&a| p.seeds.iter().map(move |&s| (a, s)))
        .collect();
    let workers = match p.parallel {
        0 => crate::workers::cores(),
        n => n,
    };
    let one = |&(algo, seed): &(Algo, u64)| -> Result<AgentRun> {
        let cfg = AgentConfig {
            algo,
            seed,
            ..stages.agent.clone()
        };
        let run = dir.join(format!("{}-{seed}", algo.name()));
        let opts = TrainOptions {
            force: true,
            progress: progress && workers.min(jobs.len()) == 1,
            ..Default::default()
        };
        match run_train_with(setup, &cfg, &run, &opts)? {
            crate::agent::train::Outcome::Finished(rep) => {
                let curve = read_curve(&run)?;
                tracing::info!(
                    "{} seed {seed}: held-out {:.2} ± {:.2}",
                    algo.name(),
                    rep.heldout.mean,
                    rep.heldout.ci95
                );
                Ok(AgentRun {
                    algo,
                    seed,
                    dir: run.clone(),
                    report: *rep,
                    curve,
                })
            }
            crate::agent::train::Outcome::Paused { .. } => {
                unreachable!("no stop_after was given")
            }
        }
    };
    crate::workers::map(&jobs, workers, stages.agent.threads, one)
        .into_iter()
        .collect()
}

fn read_curve(run: &Path) -> Result<Vec<RoundRecord>> {
    let p = run.join(crate::agent::train::files::METRICS);
    let text = std::fs::read_to_string(&p).map_err(io_at(&p))?;
    text.lines()
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                FolderError::Unreadable {
                    path: p.clone(),
                    message: e.to_string(),
                }
                .into()
            })
        })
        .collect()
}

fn write_report(out: &Path, r: &PipelineReport) -> Result<()> {
    write_json(&out.join("pipeline.json"), r)?;
    write_json(&out.join("eval.json"), &r.eval)?;
    if let Some(e) = &r.eval_logs {
        write_json(&out.join("eval_logs.json"), e)?;
    }
    let mut figures = Vec::new();
    match plots(out, r) {
        Ok(f) => figures = f,
        Err(e) => tracing::warn!("no plots: {e}"),
    }
    let md = out.join("report.md");
    Ok(crate::output::write_atomic(&md, markdown(r, &figures).as_bytes()).map_err(io_at(&md))?)
}

/// `scores.png` (each policy's mean and interval, best first) and `learning.png` (the
/// validation score by round from the untrained agent on: one panel per algorithm, each seed
/// faint, the mean over seeds in its 95% band).
fn plots(out: &Path, r: &PipelineReport) -> std::result::Result<Vec<String>, String> {
    use crate::plot::{Panel, bars, panels};
    use crate::stats::mean_ci_t;
    let mut items: Vec<(String, f64, f64)> = r
        .eval
        .rows
        .iter()
        .map(|x| (x.policy.clone(), x.mean, x.ci95))
        .collect();
    items.sort_by(|a, b| b.1.total_cmp(&a.1));
    bars(
        &out.join("scores.png"),
        "Score out of 15 in the held-out simulator (95% CI)",
        "score out of 15",
        &items,
    )?;
    let mut algos: Vec<Algo> = Vec::new();
    for a in &r.agents {
        if !algos.contains(&a.algo) {
            algos.push(a.algo);
        }
    }
    let per_algo: Vec<Panel> = algos
        .iter()
        .map(|&algo| {
            let runs: Vec<Vec<(f64, f64)>> = r
                .agents
                .iter()
                .filter(|a| a.algo == algo)
                .map(|a| {
                    let first = a.report.initial_valid_score.map(|v| (0.0, v));
                    let rounds = a
                        .curve
                        .iter()
                        .filter_map(|c| c.valid_score.map(|h| ((c.round + 1) as f64, h)));
                    first.into_iter().chain(rounds).collect()
                })
                .collect();
            // The runs of one config evaluate on the same rounds: the mean is taken per round
            // over the runs that have it.
            let mut xs: Vec<f64> = runs.iter().flatten().map(|p| p.0).collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            let mean = xs
                .iter()
                .map(|&x| {
                    let ys: Vec<f64> = runs
                        .iter()
                        .filter_map(|run| run.iter().find(|p| p.0 == x).map(|p| p.1))
                        .collect();
                    let (m, c) = mean_ci_t(&ys, 0.0);
                    (x, m, c)
                })
                .collect();
            Panel {
                title: algo.name().to_uppercase(),
                runs,
                mean,
            }
        })
        .collect();
    panels(
        &out.join("learning.png"),
        "Validation score while training (round 0: untrained)",
        "round",
        "score out of 15",
        &per_algo,
    )?;
    Ok(vec!["scores.png".into(), "learning.png".into()])
}

fn markdown(r: &PipelineReport, figures: &[String]) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "# segue report\n");
    let total: f64 = r.seconds.values().sum();
    let stages: Vec<String> = r
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.1} s"))
        .collect();
    let _ = writeln!(o, "Wall time {total:.1} s: {}.\n", stages.join(", "));

    let _ = writeln!(o, "## Scores\n");
    let seeds: std::collections::BTreeSet<u64> = r.agents.iter().map(|a| a.seed).collect();
    o.push_str(&crate::eval::report::markdown(
        &r.eval,
        &format!("{seeds:?}"),
    ));
    let _ = writeln!(
        o,
        "\n*diversity*: mean pairwise distance of the songs recommended within an episode; \
         *repeats*: share of recommendations repeating one of the same episode; *tracks*: \
         distinct tracks recommended per seed; *training simulator*: the learned policy's score \
         in the simulator it was trained in (the gap to *score* is how much it overfits it).\n"
    );
    for f in figures {
        let _ = writeln!(o, "![{f}]({f})\n");
    }
    if let Some(e) = &r.eval_logs {
        let _ = writeln!(o, "## Scores on logs the agents never saw\n");
        o.push_str(&crate::eval::report::markdown(e, &format!("{seeds:?}")));
        o.push('\n');
    }

    let _ = writeln!(o, "## Sampling\n");
    let _ = writeln!(
        o,
        "```\n{}```\n",
        crate::data::stats::table(&[("all input", &r.sample.input), ("sample", &r.sample.sample)])
    );
    let _ = writeln!(
        o,
        "The reference study sampled 2,000,000 records from 300 of the 660 training files \
         (60 GB of about 600 GB, ~125 million sessions).\n"
    );

    let _ = writeln!(o, "## History encoder\n");
    let t = &r.encoder.test;
    let _ = writeln!(
        o,
        "| | total MSE | song MSE | song layers MSE | response accuracy |\n|---|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        o,
        "| reference study | 0.0111 | | 0.0018 | 0.8889 |\n| segue, structure {:?} | {:.4} | {:.4} | {} | {:.4} |\n",
        r.encoder.structure,
        t.total_mse,
        t.song_mse,
        t.song_layers_mse.map_or("".into(), |v| format!("{v:.4}")),
        t.response_accuracy
    );
    let _ = writeln!(o, "![encoder loss](encoder/loss.png)\n");

    let _ = writeln!(o, "## Simulator fidelity\n");
    let f = &r.fidelity;
    let _ = writeln!(o, "The training split's simulator on {}.\n", f.summary());
    let _ = writeln!(o, "## Agents\n");
    let _ = writeln!(
        o,
        "| run | held-out | ±95% | training simulator | best validation | kept round | acting k (validation score per k) | updates | updates/s |\n|---|---:|---:|---:|---:|---:|---|---:|---:|"
    );
    for a in &r.agents {
        let tried: Vec<String> = a
            .report
            .act_candidates_valid
            .iter()
            .map(|(k, v)| format!("{k}: {v:.2}"))
            .collect();
        let _ = writeln!(
            o,
            "| {}-{} | {:.2} | {:.2} | {:.2} | {} | {} | {}{} | {} | {:.0} |",
            a.algo.name(),
            a.seed,
            a.report.heldout.mean,
            a.report.heldout.ci95,
            a.report.train_sim.mean,
            a.report
                .best_valid_score
                .map_or("".into(), |v| format!("{v:.2}")),
            a.report.kept_round + 1,
            a.report.act_candidates,
            if tried.is_empty() {
                String::new()
            } else {
                format!(" ({})", tried.join(", "))
            },
            a.report.updates,
            a.report.updates_per_s
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped run configs parse, validate, and the anchor variant differs from the worked
    /// example only in its two agent settings and its evaluation episodes.
    #[test]
    fn the_shipped_configs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let read = |name: &str| -> RunConfig {
            crate::config::load(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"))
        };
        let (base, anchor) = (read("real_sample.toml"), read("real_sample_anchor.toml"));
        for s in [&base, &anchor] {
            s.agent.validate().unwrap();
            s.simulator.validate().unwrap();
        }
        assert_eq!(anchor.agent.anchor_candidates, 50);
        assert_eq!(anchor.agent.act_candidates, [1, 64, 256]);
        assert_eq!(anchor.pipeline.eval_episodes, 1000);
        let mut same = anchor.clone();
        same.agent.anchor_candidates = base.agent.anchor_candidates;
        same.agent.act_candidates = base.agent.act_candidates.clone();
        same.pipeline.eval_episodes = base.pipeline.eval_episodes;
        assert_eq!(same, base);
        // configs/demo_world.toml holds the demo's stages, but for the world's folder.
        let mut demo = read("demo_world.toml");
        let want = demo_config(1, false);
        assert_eq!(demo.sample.logs, [Path::new("runs/demo-world")]);
        demo.sample.logs = want.sample.logs.clone();
        demo.sample.tracks = want.sample.tracks.clone();
        assert_eq!(demo, want);
        let synth = &demo.synth;
        assert_eq!((synth.sessions, synth.tracks, synth.files), (3000, 800, 2));
    }
}
