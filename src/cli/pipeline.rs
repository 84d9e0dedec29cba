//! The whole pipeline and its evaluation: `segue demo`, `segue run`, `segue eval`.

use super::*;

#[derive(Args)]
pub(crate) struct DemoArgs {
    /// The run folder (an earlier demo there is replaced; any other existing folder is refused).
    #[arg(short, long, default_value = "runs/demo")]
    pub(crate) out: PathBuf,
    /// Seed of the world and of every stage.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// A smaller demo (fewer sessions, rounds, seeds and episodes), for tests.
    #[arg(long, hide = true)]
    pub(crate) quick: bool,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    /// The run config: [sample] (logs, tracks, records…), [songs], [encoder], [simulator], [agent], [pipeline].
    #[arg(short, long)]
    pub(crate) config: PathBuf,
    /// The run folder.
    #[arg(short, long)]
    pub(crate) out: PathBuf,
    /// Replace an existing run folder.
    #[arg(long)]
    pub(crate) force: bool,
    /// A synthetic world's folder: score every policy under its true model too.
    #[arg(long)]
    pub(crate) world: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// `segue train` run folders (all on the same sample and encoder).
    #[arg(long, num_args = 1..)]
    pub(crate) runs: Vec<PathBuf>,
    /// The sample (default: the runs' sample).
    #[arg(long)]
    pub(crate) sample: Option<PathBuf>,
    /// The encoder run (default: the runs' encoder).
    #[arg(long)]
    pub(crate) encoder: Option<PathBuf>,
    /// A TOML run config whose [simulator] table replaces the runs' simulator settings.
    #[arg(short, long)]
    pub(crate) config: Option<PathBuf>,
    /// Score on logs the runs never saw: MSSD log files, folders of them, or sample folders.
    /// Their complete sessions (less those of the runs' sample) replace the sample's held-out
    /// split; tracks the sample never had get the song space's fallback vector, and are counted.
    /// Not with --world: the true model and its ceilings know the world's sample only.
    #[arg(short, long, num_args = 1.., conflicts_with = "world")]
    pub(crate) logs: Vec<PathBuf>,
    /// Evaluation seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5")]
    pub(crate) seeds: Vec<u64>,
    /// Episodes per policy and seed.
    #[arg(long, default_value_t = 200)]
    pub(crate) episodes: usize,
    /// Leave the baselines out.
    #[arg(long)]
    pub(crate) no_baselines: bool,
    /// Only these policies, comma-separated: random, popularity, logged, content, greedy, and the
    /// learned ones by a prefix of their names (ddpg, td3+wolpertinger, ...).
    #[arg(long, value_delimiter = ',')]
    pub(crate) policies: Vec<String>,
    /// Also score every learned policy re-ranking this many candidates (Wolpertinger's k), comma-separated: e.g. 64,256.
    #[arg(long, value_delimiter = ',')]
    pub(crate) candidates: Vec<usize>,
    /// A synthetic world's folder (from `segue synth`): adds each policy's exact score under the true model and the oracle ceilings.
    #[arg(long)]
    pub(crate) world: Option<PathBuf>,
    /// Also play the simulators' own one-step choices among the greedy baseline's candidates, as reference rows (not baselines): the held-out simulator's shows how high one-step play can score there; the training simulator's, played in the held-out one, how much of that a policy fitted to the training simulator can reach.
    #[arg(long)]
    pub(crate) sim_oracle: bool,
    /// With --world: also score the posterior-greedy reference under the true model: the true model's one-step choice for a user inferred from the whole session (the training sessions' users weighed by the likelihood of every response heard), an upper reference for policies that infer the user from the history.
    #[arg(long, requires = "world")]
    pub(crate) posterior: bool,
    /// With --posterior: weigh the users by the last N responses only, as a policy whose state holds the last N plays hears them (the tracks played before still move the model's state).
    #[arg(long, requires = "posterior", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) posterior_window: Option<u64>,
    /// Write the report here as JSON.
    #[arg(short, long)]
    pub(crate) out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn demo(a: DemoArgs, progress: bool) -> Result<()> {
    let t = std::time::Instant::now();
    let mut stages = segue::pipeline::demo_config(a.seed, a.quick);
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
    segue::synth::run_synth(&stages.synth, &world, true, false)?;
    stages.sample.logs = vec![world.clone()];
    stages.sample.tracks = vec![world.clone()];
    set_threads(1);
    let r = segue::pipeline::run_pipeline(&stages, &a.out, Some(&world), true, progress)?;
    print_pipeline(&r, &a.out);
    println!("demo wall time {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

pub(crate) fn run_cmd(a: RunArgs, progress: bool) -> Result<()> {
    let stages: RunConfig = segue::config::load(&a.config)?;
    set_threads(1);
    let r = segue::pipeline::run_pipeline(&stages, &a.out, a.world.as_deref(), a.force, progress)?;
    print_pipeline(&r, &a.out);
    Ok(())
}

pub(crate) fn print_pipeline(r: &segue::pipeline::PipelineReport, out: &std::path::Path) {
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
    print!("{}", segue::eval::report::table(&r.eval));
    if let Some(e) = &r.eval_logs {
        println!("\non the logs the agents never saw ([evaluation] logs):");
        print!("{}", segue::eval::report::table(e));
    }
    let stages: Vec<String> = r
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.1} s"))
        .collect();
    println!("\n{}", stages.join(", "));
    println!("report: {}", out.join("report.md").display());
}

pub(crate) fn eval_cmd(a: EvalArgs) -> Result<()> {
    use segue::eval::run::{EvalOptions, run_eval};
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
        logs: a.logs.clone(),
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
    print!("{}", segue::eval::report::table(&r));
    Ok(())
}
