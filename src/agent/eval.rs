//! `segue eval`: every policy × seed in the held-out simulator — the baselines and the agents
//! of one or more `segue train` runs — and, for a synthetic world, every policy's exact score
//! under the true model beside the oracle ceilings.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::policy::AgentPolicy;
use super::train::{Setup, TrainConfig, load_agent};
use crate::data::Split;
use crate::encoder::train::EncodeError;
use crate::simulator::classifier::{GreedyCandidates, SimulatorOracle};
use crate::simulator::episode::{Evaluation, evaluate};
use crate::simulator::policy::PopularityPolicy;
use crate::simulator::run::{GREEDY_NEIGHBOURS, GREEDY_POPULAR, baselines};
use crate::simulator::truth::{
    TrueScore, oracles, posterior_greedy, split_users, true_evaluate, true_starts,
};
use crate::simulator::{Policy, SimulatorConfig};

type Result<T> = std::result::Result<T, EncodeError>;

/// What to evaluate.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Evaluation seeds: each draws its own starting histories and responses.
    pub seeds: Vec<u64>,
    /// Episodes per policy and seed.
    pub episodes: usize,
    /// Include the simulator's baselines.
    pub baselines: bool,
    /// A synthetic world's folder (`world.json`, `world.bin`): adds true-model scores.
    pub world: Option<PathBuf>,
    /// Only these policies (baselines by name; learned ones by a prefix of theirs, such as
    /// `td3`); None: all.
    pub policies: Option<Vec<String>>,
    /// Also score every learned policy re-ranking this many candidates (Wolpertinger's k), for
    /// each k here, besides its trained k and the nearest track.
    pub candidates: Vec<usize>,
    /// Also play the simulators' own one-step choices ([`SimulatorOracle`]) as reference rows:
    /// the held-out simulator's (how high one-step play can score there) and the training
    /// simulator's (how much of that a policy fitted to the training simulator can reach).
    pub sim_oracle: bool,
    /// With `world`: also score [`posterior_greedy`], the true model's one-step choice for a
    /// user inferred from the session (the training sessions' users, weighed by likelihood).
    pub posterior: bool,
    /// With `posterior`: weigh the users by the last this many responses only (None: all).
    pub posterior_window: Option<usize>,
}

/// At most this many training users weigh in [`posterior_greedy`].
pub const POSTERIOR_USERS: usize = 4_000;

/// One policy over every run and seed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PolicyRow {
    pub policy: String,
    pub learned: bool,
    /// A reference rather than a baseline (the simulator oracle): not paired with.
    #[serde(default)]
    pub reference: bool,
    /// Training runs (1 for a baseline) and run × seed cells.
    pub runs: usize,
    pub cells: usize,
    pub episodes: usize,
    /// Mean score out of the horizon, and the 95% interval's half-width over the run × seed
    /// cells ([`crossed_ci`] on the cell means: it counts the spread between training seeds
    /// and between evaluation seeds, each cell's episodes averaged first).
    pub mean: f64,
    pub ci95: f64,
    pub not_skip_rate: f64,
    pub uncovered: f64,
    pub diversity: f64,
    pub repeats: f64,
    /// Distinct tracks recommended per cell, averaged.
    pub distinct_tracks: f64,
    /// The score in the training split's simulator from training starts (for a learned
    /// policy, the gap to `mean` is how much it overfits the simulator it learned in).
    pub train_sim_mean: Option<f64>,
    /// Synthetic worlds: the exact expected score under the true model.
    pub true_mean: Option<f64>,
    pub true_ci95: Option<f64>,
}

/// What `segue eval` reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EvalReport {
    pub sample: PathBuf,
    pub encoder: PathBuf,
    pub runs: Vec<PathBuf>,
    pub seeds: Vec<u64>,
    pub episodes: usize,
    pub horizon: usize,
    /// Not-skip rate of the held-out simulator's keys: random scores about horizon × this.
    pub test_not_skip_rate: f64,
    pub rows: Vec<PolicyRow>,
    /// Synthetic worlds: the oracle ceilings under the true model.
    pub oracles: Vec<TrueScore>,
    /// Synthetic worlds, when asked: the posterior-greedy reference under the true model.
    #[serde(default)]
    pub posterior: Option<TrueScore>,
    /// The responses the posterior reference heard: the last this many, or (None) the session.
    #[serde(default)]
    pub posterior_window: Option<usize>,
    /// Every learned policy against every baseline, paired on the same episodes.
    #[serde(default)]
    pub paired: Vec<PairedDiff>,
    pub seconds: f64,
}

impl EvalReport {
    /// The learned policies and the baselines of `paired`, each once, in order.
    pub fn paired_names(&self) -> (Vec<&str>, Vec<&str>) {
        let (mut learned, mut baselines): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
        for p in &self.paired {
            if !learned.contains(&p.policy.as_str()) {
                learned.push(&p.policy);
            }
            if !baselines.contains(&p.baseline.as_str()) {
                baselines.push(&p.baseline);
            }
        }
        (learned, baselines)
    }
}

/// A learned policy's score minus a baseline's, paired: in each evaluation seed both played the
/// same starting histories with the same response streams, so the differences leave out the
/// spread between starts that widens each row's own interval.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PairedDiff {
    pub policy: String,
    pub baseline: String,
    /// Mean difference and its 95% half-width over the run × seed cells, each learned cell
    /// minus the baseline's cell of the same seed ([`crossed_ci`]); with one cell, over its
    /// episodes.
    pub mean: f64,
    pub ci95: f64,
    /// The same under the true model (synthetic worlds; NaN half-width with one cell).
    pub true_mean: Option<f64>,
    pub true_ci95: Option<f64>,
}

/// The paired differences of every learned cell group against every baseline's. Learned
/// cells are stored seed by seed, `runs` of them per seed; a baseline has one per seed.
fn paired(cells: &[Cells]) -> Vec<PairedDiff> {
    let diffs = |l: &[f64], b: &[f64], runs: usize| -> Vec<f64> {
        l.iter()
            .enumerate()
            .map(|(i, x)| x - b[i / runs.max(1)])
            .collect()
    };
    let mut out = Vec::new();
    for l in cells.iter().filter(|c| c.learned) {
        for b in cells.iter().filter(|c| !c.learned && !c.reference) {
            let d = diffs(&l.means(), &b.means(), l.runs);
            let (mean, ci95) = if d.len() > 1 {
                crossed_ci(&d, l.runs, f64::NAN)
            } else {
                let e: Vec<f64> = l.evals[0]
                    .scores
                    .iter()
                    .zip(&b.evals[0].scores)
                    .map(|(x, y)| x - y)
                    .collect();
                crate::simulator::episode::mean_ci(&e)
            };
            let (true_mean, true_ci95) = if l.truth.is_empty() || b.truth.is_empty() {
                (None, None)
            } else {
                let d = diffs(&l.true_means(), &b.true_means(), l.runs);
                let (m, c) = crossed_ci(&d, l.runs, f64::NAN);
                (Some(m), Some(c))
            };
            out.push(PairedDiff {
                policy: l.name.clone(),
                baseline: b.name.clone(),
                mean,
                ci95,
                true_mean,
                true_ci95,
            });
        }
    }
    out
}

/// Student t quantile t(0.975, df), df ≥ 1 (normal beyond 30).
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if df == 0 {
        f64::NAN
    } else {
        T.get(df - 1).copied().unwrap_or(1.96)
    }
}

/// Mean and Student-t 95% half-width of `x`; with one value, `fallback` as the half-width.
pub fn mean_ci_t(x: &[f64], fallback: f64) -> (f64, f64) {
    let n = x.len();
    let m = x.iter().sum::<f64>() / n.max(1) as f64;
    if n < 2 {
        return (m, fallback);
    }
    let var = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64;
    (m, t975(n - 1) * (var / n as f64).sqrt())
}

/// Mean and 95% half-width of a crossed design: `x` holds one value per (evaluation seed, run)
/// cell, seed by seed, `runs` values each. The cells of one seed share its starting histories
/// and those of one run share its weights, so they are not independent. The variance of the
/// grand mean is estimated from the two-way mean squares as (MS_run + MS_seed) / (runs ·
/// seeds), which exceeds the unbiased estimate by MS_err / (runs · seeds), with Satterthwaite's
/// degrees of freedom (rounded down). With one run or one seed it is the Student t over the
/// other factor.
pub fn crossed_ci(x: &[f64], runs: usize, fallback: f64) -> (f64, f64) {
    let r = runs.max(1);
    let s = x.len() / r;
    if r == 1 || s == 1 || s * r != x.len() {
        return mean_ci_t(x, fallback);
    }
    let m = x.iter().sum::<f64>() / x.len() as f64;
    let run_means = (0..r).map(|j| (0..s).map(|i| x[i * r + j]).sum::<f64>() / s as f64);
    let seed_means = x.chunks(r).map(|c| c.iter().sum::<f64>() / r as f64);
    let ms_run = s as f64 * run_means.map(|v| (v - m).powi(2)).sum::<f64>() / (r - 1) as f64;
    let ms_seed = r as f64 * seed_means.map(|v| (v - m).powi(2)).sum::<f64>() / (s - 1) as f64;
    let denom = ms_run.powi(2) / (r - 1) as f64 + ms_seed.powi(2) / (s - 1) as f64;
    if denom == 0.0 {
        return (m, 0.0);
    }
    let df = ((ms_run + ms_seed).powi(2) / denom).floor().max(1.0) as usize;
    (m, t975(df) * ((ms_run + ms_seed) / (r * s) as f64).sqrt())
}

struct Cells {
    name: String,
    learned: bool,
    reference: bool,
    runs: usize,
    evals: Vec<Evaluation>,
    train: Vec<f64>,
    truth: Vec<TrueScore>,
}

impl Cells {
    /// The cells' mean scores in the simulator, and under the true model.
    fn means(&self) -> Vec<f64> {
        self.evals.iter().map(|e| e.mean).collect()
    }

    fn true_means(&self) -> Vec<f64> {
        self.truth.iter().map(|t| t.mean).collect()
    }

    fn row(&self) -> PolicyRow {
        let fallback = self.evals.first().map_or(f64::NAN, |e| e.ci95);
        let (mean, ci95) = crossed_ci(&self.means(), self.runs, fallback);
        let avg = |f: &dyn Fn(&Evaluation) -> f64| {
            self.evals.iter().map(f).sum::<f64>() / self.evals.len().max(1) as f64
        };
        let (true_mean, true_ci95) = if self.truth.is_empty() {
            (None, None)
        } else {
            let (a, b) = crossed_ci(&self.true_means(), self.runs, self.truth[0].ci95);
            (Some(a), Some(b))
        };
        PolicyRow {
            policy: self.name.clone(),
            learned: self.learned,
            reference: self.reference,
            runs: self.runs,
            cells: self.evals.len(),
            episodes: self.evals.iter().map(|e| e.episodes).sum(),
            mean,
            ci95,
            not_skip_rate: avg(&|e| e.not_skip_rate),
            uncovered: avg(&|e| e.uncovered),
            diversity: avg(&|e| e.diversity),
            repeats: avg(&|e| e.repeats),
            distinct_tracks: avg(&|e| e.distinct_tracks as f64),
            train_sim_mean: (!self.train.is_empty())
                .then(|| self.train.iter().sum::<f64>() / self.train.len() as f64),
            true_mean,
            true_ci95,
        }
    }
}

/// Evaluates the agents of `runs` (all trained on the same sample and encoder) and the
/// baselines. Without runs, `sample`, `encoder` and `sim` say what to evaluate the baselines on.
pub fn run_eval(
    runs: &[PathBuf],
    sample: Option<&Path>,
    encoder: Option<&Path>,
    sim: Option<&SimulatorConfig>,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    let t0 = Instant::now();
    if opts.seeds.is_empty() || opts.episodes == 0 {
        return Err(EncodeError::Config(
            "eval needs at least one seed and one episode".into(),
        ));
    }
    let mut agents = Vec::new();
    for r in runs {
        agents.push(load_agent(r)?);
    }
    let first: Option<&TrainConfig> = agents.first().map(|a| &a.1);
    let sample_dir = match (sample, first) {
        (Some(s), _) => s.to_path_buf(),
        (None, Some(c)) => c.sample.clone(),
        (None, None) => return Err(EncodeError::Config("give --runs or --sample".into())),
    };
    let encoder_dir = match (encoder, first) {
        (Some(e), _) => e.to_path_buf(),
        (None, Some(c)) => c.encoder.clone(),
        (None, None) => return Err(EncodeError::Config("give --runs or --encoder".into())),
    };
    let sim_cfg = match (sim, first) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => c.simulator.clone(),
        (None, None) => SimulatorConfig::default(),
    };
    for ((_, c), r) in agents.iter().zip(runs) {
        let same =
            |a: &Path, b: &Path| std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok();
        if !same(&c.sample, &sample_dir) || !same(&c.encoder, &encoder_dir) {
            return Err(EncodeError::Run(format!(
                "{} was trained on {} with the encoder {}, not {} and {}",
                r.display(),
                c.sample.display(),
                c.encoder.display(),
                sample_dir.display(),
                encoder_dir.display()
            )));
        }
    }
    let agent_cfg = first.map(|c| c.agent.clone()).unwrap_or_default();
    let setup = Setup::load(&sample_dir, &encoder_dir, &sim_cfg, &agent_cfg)?;
    let enc = &setup.encoder;
    let world = match &opts.world {
        Some(w) => Some(crate::synth::saved::load(w).map_err(|e| EncodeError::Run(e.to_string()))?),
        None => None,
    };
    let mut cells: Vec<Cells> = Vec::new();
    let mut base: Vec<Box<dyn Policy>> = Vec::new();
    if opts.baselines {
        let actions: Vec<f32> = setup
            .train_trans
            .iter()
            .flat_map(|t| enc.songs.song(t.track).iter().copied())
            .collect();
        base = baselines(
            setup.sample.tracks.len(),
            enc,
            &setup.train_trans,
            setup.train_states.clone(),
            &actions,
            sim_cfg.seed,
        )
        .1;
    }
    let wanted = |name: &str| {
        opts.policies
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| name == p || name.starts_with(p.as_str())))
    };
    base.retain(|p| wanted(&p.name()));
    for p in &base {
        cells.push(Cells {
            name: p.name(),
            learned: false,
            reference: false,
            runs: 1,
            evals: Vec::new(),
            train: Vec::new(),
            truth: Vec::new(),
        });
    }
    // Learned policies, grouped by name (the algorithm, with or without re-ranking).
    let mut learned: Vec<(usize, usize, usize)> = Vec::new(); // (agent, candidates, cell)
    for (ai, (agent, tcfg)) in agents.iter().enumerate() {
        let mut ks = vec![agent.cfg.candidates];
        if agent.cfg.candidates > 1 {
            ks.push(1);
        }
        for &k in &opts.candidates {
            if k > 0 && !ks.contains(&k) {
                ks.push(k);
            }
        }
        for k in ks {
            let name = policy_name(&agent.cfg, k, tcfg.world.is_some());
            if !wanted(&name) {
                continue;
            }
            let ci = match cells.iter().position(|c| c.name == name) {
                Some(i) => {
                    cells[i].runs += 1;
                    i
                }
                None => {
                    cells.push(Cells {
                        name,
                        learned: true,
                        reference: false,
                        runs: 1,
                        evals: Vec::new(),
                        train: Vec::new(),
                        truth: Vec::new(),
                    });
                    cells.len() - 1
                }
            };
            learned.push((ai, k, ci));
        }
    }
    // The simulators' own one-step choices, among the greedy baseline's candidates: the
    // held-out simulator's, and the training simulator's (played in the held-out one).
    let oracle_candidates = opts.sim_oracle.then(|| {
        let ranked = PopularityPolicy::new(&setup.train_trans, setup.sample.tracks.len()).ranked;
        let popular: Vec<u32> = ranked.into_iter().take(GREEDY_POPULAR).collect();
        GreedyCandidates::new(popular, GREEDY_NEIGHBOURS, &enc.songs)
    });
    let mut sim_oracles: Vec<(SimulatorOracle, usize)> = Vec::new();
    if let Some(candidates) = &oracle_candidates {
        for (name, sim) in [
            ("simulator oracle", &setup.test_sim),
            ("training-simulator oracle", &setup.train_sim),
        ] {
            if !wanted(name) {
                continue;
            }
            cells.push(Cells {
                name: name.into(),
                learned: false,
                reference: true,
                runs: 1,
                evals: Vec::new(),
                train: Vec::new(),
                truth: Vec::new(),
            });
            let p = SimulatorOracle {
                name,
                sim,
                candidates,
            };
            sim_oracles.push((p, cells.len() - 1));
        }
    }
    let mut oracle_cells: Vec<Vec<TrueScore>> = vec![Vec::new(); 2];
    let prior = match (&world, opts.posterior) {
        (Some(w), true) => Some(
            split_users(
                w,
                &setup.sample,
                Split::Train,
                POSTERIOR_USERS,
                sim_cfg.seed,
            )
            .map_err(EncodeError::Run)?,
        ),
        _ => None,
    };
    let mut posterior_cells: Vec<TrueScore> = Vec::new();
    for &seed in &opts.seeds {
        let test_starts = setup.starts(Split::Test, opts.episodes, seed)?;
        let train_starts = setup.starts(Split::Train, opts.episodes, seed)?;
        let truth = match &world {
            Some(w) => Some(
                true_starts(
                    w,
                    &setup.sample,
                    Split::Test,
                    sim_cfg.start_steps,
                    opts.episodes,
                    seed,
                )
                .map_err(EncodeError::Run)?,
            ),
            None => None,
        };
        for (p, c) in base.iter_mut().zip(cells.iter_mut()) {
            c.evals.push(evaluate(
                &setup.test_sim,
                enc,
                p.as_mut(),
                &test_starts,
                seed,
            ));
            let tr = evaluate(&setup.train_sim, enc, p.as_mut(), &train_starts, seed);
            c.train.push(tr.mean);
            if let (Some(w), Some(t)) = (&world, &truth) {
                c.truth.push(true_evaluate(
                    w,
                    enc,
                    p.as_mut(),
                    t,
                    sim_cfg.horizon,
                    sim_cfg.exclude_played,
                    seed,
                ));
            }
        }
        // The learned policies' cells are independent and most of the evaluation's time: they
        // are scored on every core, each worker with its own one-thread kernel pool (as the
        // pipeline trains agents), and stored in their fixed order, so the report does not
        // depend on the number of cores.
        let score = |&(ai, k, ci): &(usize, usize, usize)| {
            let mut p = AgentPolicy {
                name: cells[ci].name.clone(),
                agent: &agents[ai].0,
                space: &setup.space,
                candidates: k,
            };
            let e = evaluate(&setup.test_sim, enc, &mut p, &test_starts, seed);
            let tr = evaluate(&setup.train_sim, enc, &mut p, &train_starts, seed);
            let truth = match (&world, &truth) {
                (Some(w), Some(t)) => Some(true_evaluate(
                    w,
                    enc,
                    &mut p,
                    t,
                    sim_cfg.horizon,
                    sim_cfg.exclude_played,
                    seed,
                )),
                _ => None,
            };
            (e, tr.mean, truth)
        };
        let scored = crate::workers::map(&learned, crate::workers::cores(), 1, score);
        for (&(_, _, ci), (e, tr, truth)) in learned.iter().zip(scored) {
            cells[ci].evals.push(e);
            cells[ci].train.push(tr);
            if let Some(t) = truth {
                cells[ci].truth.push(t);
            }
        }
        for (p, ci) in &mut sim_oracles {
            let c = &mut cells[*ci];
            c.evals
                .push(evaluate(&setup.test_sim, enc, p, &test_starts, seed));
            c.train
                .push(evaluate(&setup.train_sim, enc, p, &train_starts, seed).mean);
            if let (Some(w), Some(t)) = (&world, &truth) {
                c.truth.push(true_evaluate(
                    w,
                    enc,
                    p,
                    t,
                    sim_cfg.horizon,
                    sim_cfg.exclude_played,
                    seed,
                ));
            }
        }
        if let (Some(w), Some(t)) = (&world, &truth) {
            for (o, s) in oracle_cells.iter_mut().zip(oracles(w, t, sim_cfg.horizon)) {
                o.push(s);
            }
            if let Some(prior) = &prior {
                posterior_cells.push(posterior_greedy(
                    &w.model,
                    t,
                    prior,
                    sim_cfg.horizon,
                    sim_cfg.exclude_played,
                    opts.posterior_window,
                    seed,
                ));
            }
        }
    }
    // One score per seed: a t interval over the seeds' means.
    let over_seeds = |o: &[TrueScore]| {
        let m: Vec<f64> = o.iter().map(|t| t.mean).collect();
        let (mean, ci95) = mean_ci_t(&m, o[0].ci95);
        TrueScore {
            policy: o[0].policy.clone(),
            episodes: o.iter().map(|t| t.episodes).sum(),
            mean,
            ci95,
        }
    };
    let oracles: Vec<TrueScore> = oracle_cells
        .iter()
        .filter(|o| !o.is_empty())
        .map(|o| over_seeds(o))
        .collect();
    Ok(EvalReport {
        sample: sample_dir,
        encoder: encoder_dir,
        runs: runs.to_vec(),
        seeds: opts.seeds.clone(),
        episodes: opts.episodes,
        horizon: sim_cfg.horizon,
        test_not_skip_rate: setup.test_sim.base_rate[3],
        rows: cells.iter().map(Cells::row).collect(),
        oracles,
        posterior: (!posterior_cells.is_empty()).then(|| over_seeds(&posterior_cells)),
        posterior_window: opts.posterior_window,
        paired: paired(&cells),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The name of a learned policy acting with `k` candidates: the algorithm (`-ft` when it
/// fine-tuned the encoder, `@truth` when it trained against a synthetic world's true model),
/// `(nearest)` without critic re-ranking, `+skip` when the skip model joins the critic
/// (`skip_model_weight`), `k=K` at another k than the run's own. With popular or anchor
/// candidates the critic re-ranks even at k = 1.
pub fn policy_name(cfg: &super::AgentConfig, k: usize, trained_on_truth: bool) -> String {
    let trained_k = cfg.candidates;
    let mut algo = match cfg.encoder_mode {
        super::EncoderMode::Frozen => cfg.algo.name().to_string(),
        super::EncoderMode::FineTuned => format!("{}-ft", cfg.algo.name()),
    };
    if trained_on_truth {
        algo.push_str("@truth");
    }
    let reranks = k > 1 || cfg.popular_candidates > 0 || cfg.anchor_candidates > 0;
    let rerank = if cfg.skip_model_weight > 0.0 {
        "wolpertinger+skip"
    } else {
        "wolpertinger"
    };
    if !reranks && trained_k > 1 {
        format!("{algo} (nearest)")
    } else if reranks && k != trained_k {
        format!("{algo}+{rerank} k={k}")
    } else if reranks {
        format!("{algo}+{rerank}")
    } else {
        algo
    }
}

/// The report as a text table (what `segue eval` prints).
pub fn table(r: &EvalReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let truth = r.rows.iter().any(|x| x.true_mean.is_some());
    // The name column fits the longest name (22 at least).
    let w = r
        .rows
        .iter()
        .map(|x| x.policy.chars().count())
        .chain(r.oracles.iter().map(|t| t.policy.chars().count()))
        .chain(r.posterior.iter().map(|t| t.policy.chars().count()))
        .fold(22, usize::max);
    let _ = writeln!(
        o,
        "held-out simulator: {} seeds × {} episodes of {} steps; random ≈ {} × {:.4} = {:.2}",
        r.seeds.len(),
        r.episodes,
        r.horizon,
        r.horizon,
        r.test_not_skip_rate,
        r.horizon as f64 * r.test_not_skip_rate
    );
    let _ = write!(
        o,
        "  {:<w$} {:>6} {:>6} {:>9} {:>9} {:>9} {:>7} {:>8} {:>9}",
        "policy",
        "mean",
        "±95%",
        "not-skip",
        "uncovered",
        "diversity",
        "repeats",
        "tracks",
        "train-sim"
    );
    if truth {
        let _ = write!(o, " {:>7} {:>6}", "true", "±95%");
    }
    o.push('\n');
    for x in &r.rows {
        let _ = write!(
            o,
            "  {:<w$} {:>6.2} {:>6.2} {:>9.4} {:>9.4} {:>9.3} {:>7.3} {:>8.0} {:>9}",
            x.policy,
            x.mean,
            x.ci95,
            x.not_skip_rate,
            x.uncovered,
            x.diversity,
            x.repeats,
            x.distinct_tracks,
            x.train_sim_mean.map_or("-".into(), |v| format!("{v:.2}"))
        );
        if let (Some(m), Some(c)) = (x.true_mean, x.true_ci95) {
            let _ = write!(o, " {m:>7.2} {c:>6.2}");
        }
        o.push('\n');
    }
    for t in &r.oracles {
        let _ = writeln!(
            o,
            "  {:<w$} true model: {:.2} ± {:.2} (the ceiling)",
            t.policy, t.mean, t.ci95
        );
    }
    if let Some(t) = &r.posterior {
        let from = match r.posterior_window {
            Some(_) => "its last responses",
            None => "the session",
        };
        let _ = writeln!(
            o,
            "  {:<w$} true model: {:.2} ± {:.2} (knows the model, infers the user from {from})",
            t.policy, t.mean, t.ci95
        );
    }
    if !r.paired.is_empty() {
        o.push_str(&paired_table(r, w, false));
        if truth {
            o.push_str(&paired_table(r, w, true));
        }
    }
    o
}

/// The paired differences as a matrix: a line per learned policy, a column per baseline.
fn paired_table(r: &EvalReport, w: usize, truth: bool) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let (learned, baselines) = r.paired_names();
    let _ = writeln!(
        o,
        "paired with each baseline{}: learned − baseline on the same starts and response draws",
        if truth {
            ", under the true model"
        } else {
            ", held-out simulator"
        }
    );
    let _ = write!(o, "  {:<w$}", "policy");
    for b in &baselines {
        let _ = write!(o, " {b:>14}");
    }
    o.push('\n');
    for l in learned {
        let _ = write!(o, "  {l:<w$}");
        for p in r.paired.iter().filter(|p| p.policy == l) {
            let (m, c) = if truth {
                (
                    p.true_mean.unwrap_or(f64::NAN),
                    p.true_ci95.unwrap_or(f64::NAN),
                )
            } else {
                (p.mean, p.ci95)
            };
            let cell = if c.is_finite() {
                format!("{m:+.2} ± {c:.2}")
            } else {
                format!("{m:+.2}")
            };
            let _ = write!(o, " {cell:>14}");
        }
        o.push('\n');
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossed_intervals_count_shared_seeds_and_runs() {
        // Seeds (1, 2) and (3, 4), two runs each: MS_run = 1, MS_seed = 4, df = 25 / 17 → 1.
        let (m, c) = crossed_ci(&[1.0, 2.0, 3.0, 4.0], 2, f64::NAN);
        assert_eq!(m, 2.5);
        assert!((c - 12.706 * 1.25f64.sqrt()).abs() < 1e-9, "{c}");
        // All the spread is between seeds: the four cells are two observations, not four.
        let (_, c) = crossed_ci(&[0.0, 0.0, 10.0, 10.0], 2, f64::NAN);
        assert!((c - 12.706 * 5.0).abs() < 1e-9, "{c}");
        let (_, naive) = mean_ci_t(&[0.0, 0.0, 10.0, 10.0], f64::NAN);
        assert!(naive < c / 6.0, "{naive} vs {c}");
        // One run, or one seed: the Student t over the other factor.
        assert_eq!(
            crossed_ci(&[1.0, 2.0, 4.0], 1, 0.0),
            mean_ci_t(&[1.0, 2.0, 4.0], 0.0)
        );
        assert_eq!(
            crossed_ci(&[1.0, 2.0, 4.0], 3, 0.0),
            mean_ci_t(&[1.0, 2.0, 4.0], 0.0)
        );
        assert_eq!(crossed_ci(&[7.0], 1, 0.5), (7.0, 0.5));
    }
}
