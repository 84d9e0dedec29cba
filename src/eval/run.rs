//! `segue eval`: every contender × seed in the held-out simulator — the baselines, the agents of
//! one or more `segue train` runs and the simulators' own one-step choices — and, for a
//! synthetic world, every contender's exact score under the true model beside the references
//! that know the model (the ceilings and posterior-greedy play).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use crate::agent::policy::{AgentPolicy, policy_name};
use crate::agent::train::{Setup, TrainConfig, load_agent, new_agent};
use crate::agent::{Agent, AgentError};
use crate::data::Split;
use crate::simulator::greedy::{GreedyCandidates, SimulatorOracle};
use crate::simulator::policy::PopularityPolicy;
use crate::simulator::run::{GREEDY_NEIGHBOURS, GREEDY_POPULAR, baselines};
use crate::simulator::{SimEnv, SimError, SimulatorConfig};
use crate::stats::{crossed_ci, mean_ci, mean_ci_t};

use super::error::EvalError;
use super::play::{Evaluation, play};
use super::policy::Policy;
use super::report::{EvalReport, PairedDiff, PolicyRow};
use super::world::{Ceiling, Oracle, PosteriorGreedy, TrueScore, TrueStarts, World};

type Result<T> = std::result::Result<T, EvalError>;

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
    /// each k here, besides its trained k (1: the nearest track, no re-ranking).
    pub candidates: Vec<usize>,
    /// Also play the simulators' own one-step choices ([`SimulatorOracle`]) as reference rows:
    /// the held-out simulator's (how high one-step play can score there) and the training
    /// simulator's (how much of that a policy fitted to the training simulator can reach).
    pub sim_oracle: bool,
    /// With `world`: also score posterior-greedy play, the true model's one-step choice for a
    /// user inferred from the session (the training sessions' users, weighed by likelihood).
    pub posterior: bool,
    /// With `posterior`: weigh the users by the last this many responses only (None: all).
    pub posterior_window: Option<usize>,
    /// Logs the runs never saw (files, folders, sample folders): their complete sessions, less
    /// those of the runs' sample, are the held-out split instead of the sample's own.
    pub logs: Vec<PathBuf>,
}

/// At most this many training users weigh in posterior-greedy play.
pub const POSTERIOR_USERS: usize = 4_000;

/// What kind of contender a row is: a baseline (paired with), a learned policy (paired against
/// the baselines) or a reference (reported, not paired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Baseline,
    Learned,
    Reference,
}

/// One contender's cells: a cell per evaluation seed, or per seed × run for a learned policy
/// (stored seed by seed, `runs` per seed).
struct Cells {
    name: String,
    kind: Kind,
    runs: usize,
    evals: Vec<Evaluation>,
    train: Vec<f64>,
    truth: Vec<TrueScore>,
}

impl Cells {
    fn new(name: String, kind: Kind) -> Cells {
        Cells {
            name,
            kind,
            runs: 1,
            evals: Vec::new(),
            train: Vec::new(),
            truth: Vec::new(),
        }
    }

    fn push(&mut self, (e, train, truth): Scored) {
        self.evals.push(e);
        self.train.push(train);
        self.truth.extend(truth);
    }

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
            learned: self.kind == Kind::Learned,
            reference: self.kind == Kind::Reference,
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

/// The paired differences of every learned cell group against every baseline's. A baseline has
/// one cell per seed; learned cells of the same seed are paired with it.
fn paired(cells: &[Cells]) -> Vec<PairedDiff> {
    let mut out = Vec::new();
    for l in cells.iter().filter(|c| c.kind == Kind::Learned) {
        for b in cells.iter().filter(|c| c.kind == Kind::Baseline) {
            out.push(paired_diff(l, b));
        }
    }
    out
}

/// Each trained learned cell against the same runs' untrained cell ([`UNTRAINED`]), paired
/// cell by cell (the same run and seed).
fn training_gains(cells: &[Cells]) -> Vec<PairedDiff> {
    cells
        .iter()
        .filter(|c| c.kind == Kind::Learned && !c.name.ends_with(UNTRAINED))
        .filter_map(|l| {
            let u = cells
                .iter()
                .find(|c| c.name == format!("{}{UNTRAINED}", l.name) && c.runs == l.runs)?;
            Some(paired_diff(l, u))
        })
        .collect()
}

/// `l` minus `b` over their cells of the same seed (`b` has one cell per seed, or one per
/// run and seed as `l`), with [`crossed_ci`]; with one cell each, over its episodes.
fn paired_diff(l: &Cells, b: &Cells) -> PairedDiff {
    let diffs = |x: &[f64], y: &[f64]| -> Vec<f64> {
        let per = x.len() / y.len().max(1);
        (x.iter().enumerate())
            .map(|(i, v)| v - y[i / per.max(1)])
            .collect()
    };
    let d = diffs(&l.means(), &b.means());
    let (mean, ci95) = if d.len() > 1 {
        crossed_ci(&d, l.runs, f64::NAN)
    } else {
        let e: Vec<f64> = l.evals[0]
            .scores
            .iter()
            .zip(&b.evals[0].scores)
            .map(|(x, y)| x - y)
            .collect();
        mean_ci(&e)
    };
    let (true_mean, true_ci95) = if l.truth.is_empty() || b.truth.is_empty() {
        (None, None)
    } else {
        let (m, c) = crossed_ci(&diffs(&l.true_means(), &b.true_means()), l.runs, f64::NAN);
        (Some(m), Some(c))
    };
    PairedDiff {
        policy: l.name.clone(),
        baseline: b.name.clone(),
        mean,
        ci95,
        true_mean,
        true_ci95,
    }
}

/// One cell's scores: the held-out simulator's evaluation, the training simulator's mean, and
/// the true model's score (synthetic worlds).
type Scored = (Evaluation, f64, Option<TrueScore>);

/// The episodes of one evaluation seed: the sessions that start them in the held-out and the
/// training splits, and (synthetic worlds) the hidden starts the references play from.
struct SeedStarts {
    seed: u64,
    test: Vec<usize>,
    train: Vec<usize>,
    truth: Option<TrueStarts>,
}

/// One contender's job of an evaluation seed: a baseline or reference (by its index among
/// them) or a learned policy at one k (by its index in the learned cells).
enum Contender {
    Fixed(usize),
    Learned(usize),
}

/// Where the contenders are scored: the setup's simulators and, for a synthetic world, its true
/// model.
struct Arena<'a> {
    setup: &'a Setup,
    world: Option<&'a World>,
}

impl Arena<'_> {
    /// `policy` on one seed's episodes: in the held-out simulator, in the training simulator
    /// from training starts, and under the true model.
    fn score(&self, policy: &mut dyn Policy, s: &SeedStarts) -> Result<Scored> {
        let setup = self.setup;
        let (enc, sample, songs) = (&setup.encoder, &setup.sample, &setup.encoder.songs);
        let mut test = SimEnv::new(&setup.test_sim, enc, sample);
        let e = play(&mut test, policy, &s.test, s.seed, songs)?;
        let mut train = SimEnv::new(&setup.train_sim, enc, sample);
        let tr = play(&mut train, policy, &s.train, s.seed, songs)?;
        let truth = match self.world {
            Some(w) => {
                let mut env = w.env(enc, sample, &setup.test_sim.cfg)?;
                let t = play(&mut env, policy, &s.test, s.seed, songs)?;
                Some(TrueScore {
                    policy: t.policy,
                    episodes: t.episodes,
                    mean: t.mean,
                    ci95: t.ci95,
                })
            }
            None => None,
        };
        Ok((e, tr.mean, truth))
    }
}

/// The runs' agents and the sample, encoder and simulator settings they share (or those given).
struct Inputs {
    agents: Vec<(Agent, TrainConfig)>,
    sample: PathBuf,
    encoder: PathBuf,
    sim: SimulatorConfig,
}

fn inputs(
    runs: &[PathBuf],
    sample: Option<&Path>,
    encoder: Option<&Path>,
    sim: Option<&SimulatorConfig>,
) -> Result<Inputs> {
    let agents = runs
        .iter()
        .map(|r| load_agent(r))
        .collect::<std::result::Result<Vec<_>, AgentError>>()?;
    let first: Option<&TrainConfig> = agents.first().map(|a| &a.1);
    let sample_dir = match (sample, first) {
        (Some(s), _) => s.to_path_buf(),
        (None, Some(c)) => c.sample.clone(),
        (None, None) => return Err(EvalError::Options("give --runs or --sample".into())),
    };
    let encoder_dir = match (encoder, first) {
        (Some(e), _) => e.to_path_buf(),
        (None, Some(c)) => c.encoder.clone(),
        (None, None) => return Err(EvalError::Options("give --runs or --encoder".into())),
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
            return Err(EvalError::OtherInputs {
                run: r.clone(),
                trained_sample: c.sample.clone(),
                trained_encoder: c.encoder.clone(),
                sample: sample_dir,
                encoder: encoder_dir,
            });
        }
    }
    Ok(Inputs {
        agents,
        sample: sample_dir,
        encoder: encoder_dir,
        sim: sim_cfg,
    })
}

/// A learned contender's job: the run (its index), Wolpertinger's k, the cell, and whether it
/// is the run's untrained agent.
#[derive(Clone, Copy)]
struct LearnedJob {
    run: usize,
    k: usize,
    cell: usize,
    untrained: bool,
}

/// The suffix of the untrained ablation's rows.
pub const UNTRAINED: &str = " untrained";

/// The learned contenders: for each run, its trained k and each k of `opts.candidates`, and
/// its untrained agent at its trained k (what training adds), grouped into cells by name.
fn learned_cells(
    agents: &[(Agent, TrainConfig)],
    opts: &EvalOptions,
    wanted: &dyn Fn(&str) -> bool,
    cells: &mut Vec<Cells>,
) -> Vec<LearnedJob> {
    let mut learned = Vec::new();
    for (run, (agent, tcfg)) in agents.iter().enumerate() {
        let trained = agent.cfg.candidates;
        let mut ks = vec![(trained, false)];
        for &k in &opts.candidates {
            if k > 0 && !ks.contains(&(k, false)) {
                ks.push((k, false));
            }
        }
        ks.push((trained, true));
        for (k, untrained) in ks {
            let mut name = policy_name(&agent.cfg, k, tcfg.world.is_some());
            if untrained {
                name += UNTRAINED;
            }
            if !wanted(&name) {
                continue;
            }
            let cell = match cells.iter().position(|c| c.name == name) {
                Some(i) => {
                    cells[i].runs += 1;
                    i
                }
                None => {
                    cells.push(Cells::new(name, Kind::Learned));
                    cells.len() - 1
                }
            };
            learned.push(LearnedJob {
                run,
                k,
                cell,
                untrained,
            });
        }
    }
    learned
}

/// A reference's job: a ceiling, or posterior-greedy play over a prior (its users).
#[derive(Clone, Copy)]
enum Reference<P> {
    Ceiling(Ceiling),
    Posterior(P),
}

/// The references that know the world's model, over the evaluation seeds: the ceilings (one
/// score per seed, a t interval over the seeds) and, when asked, posterior-greedy play.
fn references(
    world: &World,
    setup: &Setup,
    opts: &EvalOptions,
    seeds: &[SeedStarts],
) -> Result<(Vec<TrueScore>, Option<TrueScore>)> {
    let cfg = &setup.test_sim.cfg;
    let prior = if opts.posterior {
        Some(world.split_users(&setup.sample, Split::Train, POSTERIOR_USERS, cfg.seed)?)
    } else {
        None
    };
    // Each reference plays the seed's held-out episodes in the true model, as every contender.
    let (enc, sample, songs) = (&setup.encoder, &setup.sample, &setup.encoder.songs);
    let truly = |p: &mut dyn Policy, s: &SeedStarts| -> Result<TrueScore> {
        let mut env = world.env(enc, sample, cfg)?;
        let e = play(&mut env, p, &s.test, s.seed, songs)?;
        Ok(TrueScore {
            policy: e.policy,
            episodes: e.episodes,
            mean: e.mean,
            ci95: e.ci95,
        })
    };
    // Each (seed, reference) is independent: scored on every core, kept in the seeds' order.
    let mut kinds = vec![
        Reference::Ceiling(Ceiling::Greedy),
        Reference::Ceiling(Ceiling::Planner),
    ];
    kinds.extend(prior.as_deref().map(Reference::Posterior));
    let jobs: Vec<(&SeedStarts, &TrueStarts, Reference<_>)> = seeds
        .iter()
        .filter_map(|s| s.truth.as_ref().map(|t| (s, t)))
        .flat_map(|(s, t)| kinds.iter().map(move |&k| (s, t, k)))
        .collect();
    let score = |&(s, t, kind): &(&SeedStarts, &TrueStarts, Reference<_>)| match kind {
        Reference::Ceiling(c) => truly(&mut Oracle::new(world, c, t, cfg.horizon), s),
        Reference::Posterior(prior) => {
            let mut p = PosteriorGreedy::new(world, prior, &t.world_track, opts.posterior_window);
            truly(&mut p, s)
        }
    };
    let scored = crate::workers::map(&jobs, crate::workers::cores(), 1, score);
    let (mut oracle_cells, mut posterior_cells) = (vec![Vec::new(); 2], Vec::new());
    for (&(_, _, kind), t) in jobs.iter().zip(scored) {
        match kind {
            Reference::Ceiling(Ceiling::Greedy) => oracle_cells[0].push(t?),
            Reference::Ceiling(Ceiling::Planner) => oracle_cells[1].push(t?),
            Reference::Posterior(_) => posterior_cells.push(t?),
        }
    }
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
    let oracles = oracle_cells
        .iter()
        .filter(|o| !o.is_empty())
        .map(|o| over_seeds(o))
        .collect();
    let posterior = (!posterior_cells.is_empty()).then(|| over_seeds(&posterior_cells));
    Ok((oracles, posterior))
}

/// The baselines of [`baselines`], built on the setup's training transitions.
fn baseline_policies(setup: &Setup, seed: u64) -> Vec<Box<dyn Policy + Send>> {
    let enc = &setup.encoder;
    let actions: Vec<f32> = setup
        .train_trans
        .iter()
        .flat_map(|t| enc.songs.song(t.track).iter().copied())
        .collect();
    baselines(
        enc.songs.catalogue_len(),
        enc,
        &setup.train_trans,
        setup.train_states.clone(),
        &actions,
        setup.train_sim.skip_model(),
        seed,
    )
    .1
}

/// The starts of evaluation seed `seed`: `episodes` held-out and training sessions, and the
/// world's hidden starts.
fn seed_starts(
    setup: &Setup,
    world: Option<&World>,
    episodes: usize,
    seed: u64,
) -> Result<SeedStarts> {
    let steps = setup.test_sim.cfg.start_steps;
    Ok(SeedStarts {
        seed,
        test: setup.sessions(Split::Test, episodes, seed)?,
        train: setup.sessions(Split::Train, episodes, seed)?,
        truth: match world {
            Some(w) => Some(w.starts(&setup.sample, Split::Test, steps, episodes, seed)?),
            None => None,
        },
    })
}

/// The simulators' own one-step choices among `candidates` as reference contenders: the
/// held-out simulator's, and the training simulator's (played in the held-out one), each with
/// its cell.
fn simulator_oracles<'a>(
    setup: &'a Setup,
    candidates: &'a GreedyCandidates,
    wanted: &dyn Fn(&str) -> bool,
    cells: &mut Vec<Cells>,
) -> Vec<(SimulatorOracle<'a>, usize)> {
    let mut out = Vec::new();
    for (name, sim) in [
        ("simulator oracle", &setup.test_sim),
        ("training-simulator oracle", &setup.train_sim),
    ] {
        if wanted(name) {
            cells.push(Cells::new(name.into(), Kind::Reference));
            let p = SimulatorOracle {
                name,
                sim,
                candidates,
            };
            out.push((p, cells.len() - 1));
        }
    }
    out
}

/// Scores every contender on one seed's starts into its cell: `fixed` are the baselines and
/// references with their cells, `learned` the jobs of [`learned_cells`] over `agents`, each
/// run's (trained, untrained) agent. The cells
/// are independent of each other: they are scored on every core, each worker with its own
/// one-thread kernel pool (as the pipeline trains agents), and stored in their fixed order, so
/// the report does not depend on the number of cores. A baseline or reference keeps its own
/// state from seed to seed.
fn score_seed(
    arena: &Arena,
    s: &SeedStarts,
    fixed: Vec<(&mut (dyn Policy + Send), usize)>,
    learned: &[LearnedJob],
    agents: &[(&Agent, &Agent)],
    cells: &mut [Cells],
) -> Result<()> {
    let targets: Vec<usize> = fixed
        .iter()
        .map(|f| f.1)
        .chain(learned.iter().map(|l| l.cell))
        .collect();
    let fixed: Vec<Mutex<&mut (dyn Policy + Send)>> =
        fixed.into_iter().map(|f| Mutex::new(f.0)).collect();
    let jobs: Vec<Contender> = (0..fixed.len())
        .map(Contender::Fixed)
        .chain((0..learned.len()).map(Contender::Learned))
        .collect();
    let score = |job: &Contender| match *job {
        Contender::Fixed(i) => {
            let mut p = fixed[i].lock().unwrap_or_else(|e| e.into_inner());
            arena.score(&mut **p, s)
        }
        Contender::Learned(i) => {
            let j = learned[i];
            let (trained, untrained) = agents[j.run];
            let mut p = AgentPolicy {
                name: cells[j.cell].name.clone(),
                agent: if j.untrained { untrained } else { trained },
                space: &arena.setup.space,
                candidates: j.k,
            };
            arena.score(&mut p, s)
        }
    };
    let scored = crate::workers::map(&jobs, crate::workers::cores(), 1, score);
    for (ci, sc) in targets.into_iter().zip(scored) {
        cells[ci].push(sc?);
    }
    Ok(())
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
        return Err(EvalError::Options(
            "eval needs at least one seed and one episode".into(),
        ));
    }
    let Inputs {
        mut agents,
        sample: sample_dir,
        encoder: encoder_dir,
        sim: sim_cfg,
    } = inputs(runs, sample, encoder, sim)?;
    let agent_cfg = agents
        .first()
        .map(|c| c.1.agent.clone())
        .unwrap_or_default();
    let setup = Setup::load_on(&sample_dir, &encoder_dir, &sim_cfg, &agent_cfg, &opts.logs)?;
    let enc = &setup.encoder;
    for (a, _) in &mut agents {
        a.cover_tracks(setup.sample.tracks.len(), &enc.fallback);
    }
    let world = match &opts.world {
        Some(w) => Some(World::load(w).map_err(|source| SimError::Env {
            at: Some(w.clone()),
            source,
        })?),
        None => None,
    };
    let wanted = |name: &str| {
        opts.policies
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| name == p || name.starts_with(p.as_str())))
    };
    let mut base = if opts.baselines {
        baseline_policies(&setup, sim_cfg.seed)
    } else {
        Vec::new()
    };
    base.retain(|p| wanted(&p.name()));
    let mut cells: Vec<Cells> = base
        .iter()
        .map(|p| Cells::new(p.name(), Kind::Baseline))
        .collect();
    let learned = learned_cells(&agents, opts, &wanted, &mut cells);
    // Each run's agent before its first round, rebuilt from its config and seed.
    let untrained = agents
        .iter()
        .map(|(_, t)| new_agent(&setup, &t.agent))
        .collect::<std::result::Result<Vec<_>, AgentError>>()?;
    let pairs: Vec<(&Agent, &Agent)> = agents.iter().map(|a| &a.0).zip(&untrained).collect();
    // The simulators' own one-step choices, among the greedy baseline's candidates: the
    // held-out simulator's, and the training simulator's (played in the held-out one).
    let oracle_candidates = opts.sim_oracle.then(|| {
        let ranked = PopularityPolicy::new(&setup.train_trans, enc.songs.catalogue_len()).ranked;
        let popular: Vec<u32> = ranked.into_iter().take(GREEDY_POPULAR).collect();
        GreedyCandidates::new(popular, GREEDY_NEIGHBOURS, &enc.songs)
    });
    let sim_oracles = oracle_candidates
        .as_ref()
        .map(|c| simulator_oracles(&setup, c, &wanted, &mut cells));
    let mut sim_oracles = sim_oracles.unwrap_or_default();
    let arena = Arena {
        setup: &setup,
        world: world.as_ref(),
    };
    let mut seeds = Vec::new();
    for &seed in &opts.seeds {
        let s = seed_starts(&setup, world.as_ref(), opts.episodes, seed)?;
        let fixed = base
            .iter_mut()
            .enumerate()
            .map(|(ci, p)| (p.as_mut() as &mut (dyn Policy + Send), ci))
            .chain(
                sim_oracles
                    .iter_mut()
                    .map(|(p, ci)| (p as &mut (dyn Policy + Send), *ci)),
            )
            .collect();
        score_seed(&arena, &s, fixed, &learned, &pairs, &mut cells)?;
        seeds.push(s);
    }
    let (oracles, posterior) = match &world {
        Some(w) => references(w, &setup, opts, &seeds)?,
        None => (Vec::new(), None),
    };
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
        posterior,
        posterior_window: opts.posterior_window,
        paired: paired(&cells),
        training: training_gains(&cells),
        logs: setup.logs.clone(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
