//! The model stages one at a time: `segue songs`, `segue encode`, `segue simulate`, `segue train`.

use super::*;
use segue::eval::Evaluation;

#[derive(Args)]
pub(crate) struct TrainArgs {
    /// The algorithm (overrides the config's agent.algo).
    #[arg(long, value_enum)]
    pub(crate) algo: Option<segue::agent::Algo>,
    /// A sample folder written by `segue sample`.
    #[arg(long)]
    pub(crate) sample: PathBuf,
    /// A finished `segue encode` run on that sample.
    #[arg(long)]
    pub(crate) encoder: PathBuf,
    /// The run folder to write.
    #[arg(short, long)]
    pub(crate) out: PathBuf,
    /// A TOML run config ([agent] and [simulator] tables); flags override it.
    #[arg(short, long)]
    pub(crate) config: Option<PathBuf>,
    /// Seed of the agent (networks, exploration, episodes).
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Training rounds.
    #[arg(long)]
    pub(crate) rounds: Option<usize>,
    /// Wolpertinger candidates re-ranked by the critic (1: the nearest track).
    #[arg(long)]
    pub(crate) candidates: Option<usize>,
    /// The state: the encoder's latent as trained (frozen), or fine-tuned with the critic.
    #[arg(long, value_enum)]
    pub(crate) encoder_mode: Option<segue::agent::EncoderMode>,
    /// A diagnostic for synthetic data: the folder of the `segue synth` world the sample was
    /// drawn from; training episodes and validation play against its hidden users (the true
    /// model) instead of the simulators. Its rows in `segue eval` are named `ALGO@truth`.
    #[arg(long)]
    pub(crate) world: Option<PathBuf>,
    /// Replace an existing run folder.
    #[arg(long)]
    pub(crate) force: bool,
    /// Continue the run in --out from its checkpoint.
    #[arg(long, conflicts_with = "force")]
    pub(crate) resume: bool,
    /// Stop after this many rounds (resume later with --resume).
    #[arg(long)]
    pub(crate) stop_after: Option<usize>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct SongsArgs {
    /// A sample folder written by `segue sample`.
    #[arg(long)]
    pub(crate) sample: PathBuf,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    /// Where vectors come from.
    #[arg(long, value_enum)]
    pub(crate) source: Option<segue::songs::space::SongSource>,
    /// Dimension of learned embeddings.
    #[arg(long)]
    pub(crate) dim: Option<usize>,
    /// Seed of the embedding training.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
}

#[derive(Args)]
pub(crate) struct EncodeArgs {
    /// Autoencoder structure.
    #[arg(long, value_enum)]
    pub(crate) structure: Option<segue::encoder::Structure>,
    /// A sample folder written by `segue sample`.
    #[arg(long)]
    pub(crate) sample: PathBuf,
    /// A song space folder written by `segue songs` (default: build one into RUN_DIR/songs).
    #[arg(long)]
    pub(crate) songs: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    /// Continue the run in --out from its checkpoint.
    #[arg(long, conflicts_with = "force")]
    pub(crate) resume: bool,
    /// Stop after this many epochs in this invocation (continue later with --resume).
    #[arg(long)]
    pub(crate) stop_after: Option<usize>,
    /// Epochs at most.
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// Size of the latent state.
    #[arg(long)]
    pub(crate) latent: Option<usize>,
    /// Seed of the weights and batch order.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Threads (0, the default: every core); on the CPU the weights do not depend on it.
    #[arg(long)]
    pub(crate) threads: Option<usize>,
    /// Where the networks run (wgpu and cuda need the cargo feature of the same name).
    #[arg(long, value_enum)]
    pub(crate) backend: Option<segue::encoder::config::Backend>,
}

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// A sample folder written by `segue sample`.
    #[arg(long)]
    pub(crate) sample: PathBuf,
    /// A finished `segue encode` run on that sample.
    #[arg(long)]
    pub(crate) encoder: PathBuf,
    /// The `.npz` archive to write.
    #[arg(short, long)]
    pub(crate) out: PathBuf,
    /// The splits whose transitions to write (repeat the flag, or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "train")]
    pub(crate) split: Vec<segue::data::Split>,
    /// A TOML run config ([simulator] table: the reward); flags override it.
    #[arg(short, long)]
    pub(crate) config: Option<PathBuf>,
    /// What each response level is worth.
    #[arg(long, value_enum)]
    pub(crate) reward: Option<segue::simulator::config::RewardKind>,
}

#[derive(Args)]
pub(crate) struct SimulateArgs {
    /// A sample folder written by `segue sample`.
    #[arg(long)]
    pub(crate) sample: PathBuf,
    /// A finished `segue encode` run on that sample.
    #[arg(long)]
    pub(crate) encoder: PathBuf,
    /// A TOML run config ([simulator] table); flags override it.
    #[arg(short, long)]
    pub(crate) config: Option<PathBuf>,
    /// Episodes per policy.
    #[arg(long)]
    pub(crate) episodes: Option<usize>,
    /// Seed of the starting histories and the responses.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Stochastic (draw the response) or expected (reward = its probability).
    #[arg(long, value_enum)]
    pub(crate) mode: Option<segue::simulator::config::ResponseMode>,
    /// The synthetic world the sample was drawn from: also score its true model on the held-out transitions (the best fidelity any simulator could reach).
    #[arg(long)]
    pub(crate) world: Option<PathBuf>,
    /// Write the report here as JSON.
    #[arg(short, long)]
    pub(crate) out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn train(a: TrainArgs, progress: bool) -> Result<()> {
    use segue::agent::train::{Outcome, TrainOptions, run_train};
    let file = read_config(a.config.as_ref())?;
    let mut cfg = file.agent;
    set_given!(cfg, a; algo, seed, rounds, candidates, encoder_mode);
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
    let rows: Vec<(String, &Evaluation)> = [
        Some(("held-out simulator", &r.heldout)),
        r.heldout_nearest
            .as_ref()
            .map(|e| ("held-out simulator", e)),
        Some(("training simulator", &r.train_sim)),
    ]
    .into_iter()
    .flatten()
    .map(|(sim, e)| (format!("{} in {sim}", e.policy), e))
    .collect();
    print!("{}", segue::eval::report::evaluations(&rows));
    println!("wrote {}", a.out.display());
    Ok(())
}

pub(crate) fn export(a: ExportArgs) -> Result<()> {
    let mut cfg = read_config(a.config.as_ref())?.simulator;
    set_given!(cfg, a; reward);
    let r = segue::agent::export::run_export(&a.sample, &a.encoder, &cfg, &a.split, &a.out)?;
    println!(
        "wrote {}: {} transitions of {} sessions ({}), observations of {}, actions of {}",
        a.out.display(),
        r.transitions,
        r.episodes,
        r.splits.join(", "),
        r.observation_dim,
        r.action_dim
    );
    Ok(())
}

pub(crate) fn simulate(a: SimulateArgs) -> Result<()> {
    let mut cfg = read_config(a.config.as_ref())?.simulator;
    set_given!(cfg, a; episodes, seed, mode);
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
    let rows: Vec<(String, &Evaluation)> =
        r.baselines.iter().map(|e| (e.policy.clone(), e)).collect();
    print!("{}", segue::eval::report::evaluations(&rows));
    Ok(())
}

pub(crate) fn encode(a: EncodeArgs, progress: bool) -> Result<()> {
    let file = read_config(a.output.config.as_ref())?;
    let mut cfg = file.encoder;
    set_given!(cfg, a; structure, epochs => max_epochs, latent, seed, threads, backend);
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

pub(crate) fn songs(a: SongsArgs) -> Result<()> {
    let mut cfg = read_config(a.output.config.as_ref())?.songs;
    set_given!(cfg, a; source, dim => embedding.dim, seed => embedding.seed);
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

#[derive(Args)]
pub(crate) struct SkipsArgs {
    /// A sample folder written by `segue sample`: models learn from its training split and are
    /// scored on its test split.
    #[arg(long)]
    pub(crate) sample: PathBuf,
    /// A `segue encode` run on the sample: adds the kNN user simulator, built from the training
    /// split, as a model.
    #[arg(long)]
    pub(crate) encoder: Option<PathBuf>,
    /// A TOML run config whose [simulator] table builds that simulator.
    #[arg(short, long)]
    pub(crate) config: Option<PathBuf>,
    /// Also score the same models on logs the sample never held: MSSD log files, folders of
    /// them, or sample folders (their complete sessions less the sample's; tracks the sample
    /// never had are counted, and have the song space's fallback vector).
    #[arg(short, long, num_args = 1..)]
    pub(crate) logs: Vec<PathBuf>,
    /// Seed of the random model and of the bootstrap.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Bootstrap resamples of the sessions.
    #[arg(long, default_value_t = 1000)]
    pub(crate) resamples: usize,
    /// Write the report here as JSON.
    #[arg(short, long)]
    pub(crate) out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn skips(a: SkipsArgs) -> Result<()> {
    use segue::simulator::skips::{
        self, AlwaysSkip, Coin, PositionRate, Precomputed, RepeatLast, SessionLogistic,
        SkipPredictor,
    };
    let sample = data::load_sample_dir(&a.sample)?.sample;
    let train = skips::tasks(&sample, data::Split::Train);
    let test = skips::tasks(&sample, data::Split::Test);
    anyhow::ensure!(
        !test.is_empty(),
        "{}: no test session with a play to predict",
        a.sample.display()
    );
    // With an encoder the setup reads the logs too; without, they are read here.
    let setup = match &a.encoder {
        Some(enc) => Some(segue::agent::train::Setup::load_on(
            &a.sample,
            enc,
            &read_config(a.config.as_ref())?.simulator,
            &segue::agent::AgentConfig::default(),
            &a.logs,
        )?),
        None => None,
    };
    let with_logs = match (&setup, a.logs.is_empty()) {
        (_, true) => None,
        (Some(s), false) => Some((s.sample.clone(), s.logs.clone().unwrap_or_default())),
        (None, false) => Some(data::with_logs_held_out(&sample, &a.logs, false)?),
    };
    let on_logs = with_logs
        .as_ref()
        .map(|(s, c)| (skips::tasks(s, data::Split::Test), c));
    if let Some((t, c)) = &on_logs {
        anyhow::ensure!(
            !t.is_empty(),
            "{}: no session with a play to predict",
            c.label()
        );
    }
    let position = PositionRate::fit(&train);
    let logistic = SessionLogistic::fit(&train, sample.tracks.len());
    // The same fitted models for each set of tasks, with the simulator's predictions of them.
    let models = |tasks: &[skips::Task]| -> Vec<Box<dyn SkipPredictor>> {
        let mut m: Vec<Box<dyn SkipPredictor>> = vec![
            Box::new(Coin(segue::rng::Rng::new(a.seed))),
            Box::new(AlwaysSkip),
            Box::new(RepeatLast),
            Box::new(position.clone()),
            Box::new(logistic.clone()),
        ];
        if let Some(s) = &setup {
            let predictions = skips::simulator_predictions(&s.train_sim, &s.encoder, tasks);
            m.push(Box::new(Precomputed {
                name: skips::SIMULATOR.into(),
                predictions: predictions.into_iter(),
            }));
        }
        m
    };
    let reference = "repeat last skip_2";
    let mut r = skips::report(&mut models(&test), &test, reference, a.resamples, a.seed);
    if let Some((t, c)) = on_logs {
        let mut l = skips::report(&mut models(&t), &t, reference, a.resamples, a.seed);
        l.coverage = Some(c.clone());
        r.on_logs = Some(Box::new(l));
    }
    if let Some(p) = &a.out {
        segue::output::write_atomic(p, serde_json::to_string_pretty(&r)?.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", skips::table(&r));
    }
    Ok(())
}
