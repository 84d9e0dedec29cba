//! The evaluation's report model: one row per contender, the references' ceilings and the
//! paired differences; `segue eval` prints [`table`], and the run reports render the same rows.
//! [`evaluations`] is the short table of single evaluations.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::play::Evaluation;
use super::world::TrueScore;

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
    /// What training adds: each trained learned row minus the same runs untrained, paired on
    /// the same episodes (`baseline` names the untrained row).
    #[serde(default)]
    pub training: Vec<PairedDiff>,
    /// Scored on logs the runs never saw (`--logs`): what they bring. None: the sample's own
    /// held-out split.
    #[serde(default)]
    pub logs: Option<crate::data::LogsCoverage>,
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

/// A row's figures, each at its precision once for the text table and the markdown: mean,
/// ±95%, not-skip rate, uncovered, diversity, repeats, tracks; the training simulator's score;
/// the true model's mean and ±95%.
#[allow(clippy::type_complexity)]
fn figures(x: &PolicyRow) -> ([String; 7], Option<String>, Option<(String, String)>) {
    (
        [
            format!("{:.2}", x.mean),
            format!("{:.2}", x.ci95),
            format!("{:.4}", x.not_skip_rate),
            format!("{:.4}", x.uncovered),
            format!("{:.3}", x.diversity),
            format!("{:.3}", x.repeats),
            format!("{:.0}", x.distinct_tracks),
        ],
        x.train_sim_mean.map(|v| format!("{v:.2}")),
        x.true_mean
            .zip(x.true_ci95)
            .map(|(m, c)| (format!("{m:.2}"), format!("{c:.2}"))),
    )
}

/// The short score table of single evaluations (one simulator, one seed each): policy, mean,
/// 95% half-width, not-skip rate, uncovered share and distinct tracks, one row per
/// (name, evaluation). `segue train` and `segue simulate` print it.
pub fn evaluations(rows: &[(String, &Evaluation)]) -> String {
    use std::fmt::Write;
    let w = rows
        .iter()
        .map(|r| r.0.chars().count())
        .fold(12, usize::max);
    let mut o = format!(
        "  {:<w$} {:>6} {:>7} {:>10} {:>10} {:>8}\n",
        "policy", "mean", "±95%", "not-skip", "uncovered", "tracks"
    );
    for (name, e) in rows {
        let _ = writeln!(
            o,
            "  {:<w$} {:>6.2} {:>7.2} {:>10.4} {:>10.4} {:>8}",
            name, e.mean, e.ci95, e.not_skip_rate, e.uncovered, e.distinct_tracks
        );
    }
    o
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
    if let Some(c) = &r.logs {
        let _ = writeln!(o, "{}", c.summary());
    }
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
        let (f, train, truth) = figures(x);
        let _ = write!(o, "  {:<w$}", x.policy);
        for (v, width) in f.iter().zip([6, 6, 9, 9, 9, 7, 8]) {
            let _ = write!(o, " {v:>width$}");
        }
        let _ = write!(o, " {:>9}", train.as_deref().unwrap_or("-"));
        if let Some((m, c)) = truth {
            let _ = write!(o, " {m:>7} {c:>6}");
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
    if !r.training.is_empty() {
        let _ = writeln!(
            o,
            "what training adds: trained − untrained on the same starts and response draws"
        );
        for d in &r.training {
            let _ = write!(
                o,
                "  {:<w$} {:+.2} ± {:.2} held out",
                d.policy, d.mean, d.ci95
            );
            if let (Some(m), Some(c)) = (d.true_mean, d.true_ci95) {
                let _ = write!(o, ", {m:+.2} ± {c:.2} under the true model");
            }
            o.push('\n');
        }
    }
    o
}

/// The report's scores as markdown tables (what `segue run` and `segue demo` write in
/// `report.md`): the rows, the ceilings and the paired differences; `agent_seeds` names the
/// training seeds.
pub fn markdown(e: &EvalReport, agent_seeds: &str) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Held-out simulator, {} evaluation seeds × {} episodes of {} steps; agents trained with \
         seeds {}. Random should score about {} × the held-out not-skip rate {:.4} = {:.2}. \
         The interval is Student's t over the run × seed cells.\n",
        e.seeds.len(),
        e.episodes,
        e.horizon,
        agent_seeds,
        e.horizon,
        e.test_not_skip_rate,
        e.horizon as f64 * e.test_not_skip_rate
    );
    if let Some(c) = &e.logs {
        let _ = writeln!(o, "{}.\n", c.summary());
    }
    let truth = e.rows.iter().any(|x| x.true_mean.is_some());
    let _ = write!(
        o,
        "| policy | score | ±95% | not-skip rate | uncovered | diversity | repeats | tracks | training simulator |"
    );
    if truth {
        let _ = write!(o, " true model | ±95% |");
    }
    let _ = write!(o, "\n|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    if truth {
        let _ = write!(o, "---:|---:|");
    }
    o.push('\n');
    for x in &e.rows {
        let (f, train, truth) = figures(x);
        let _ = write!(
            o,
            "| {} | {} | {} |",
            x.policy,
            f.join(" | "),
            train.unwrap_or_default()
        );
        if let Some((m, c)) = truth {
            let _ = write!(o, " {m} | {c} |");
        }
        o.push('\n');
    }
    for t in &e.oracles {
        let _ = writeln!(
            o,
            "\nCeiling under the true model, {}: {:.2} ± {:.2}.",
            t.policy, t.mean, t.ci95
        );
    }
    if !e.paired.is_empty() {
        let _ = writeln!(
            o,
            "\nPaired with each baseline: each learned policy's score minus the baseline's, \
             played from the same starting histories with the same response draws (mean ± 95%).\n"
        );
        let (learned, baselines) = e.paired_names();
        let _ = writeln!(
            o,
            "| policy | {} |\n|---|{}",
            baselines.join(" | "),
            "---:|".repeat(baselines.len())
        );
        for l in learned {
            let cells: Vec<String> = e
                .paired
                .iter()
                .filter(|q| q.policy == l)
                .map(|q| {
                    let mut c = format!("{:+.2} ± {:.2}", q.mean, q.ci95);
                    if let (Some(m), Some(h)) = (q.true_mean, q.true_ci95) {
                        c.push_str(&format!(" (true model {m:+.2} ± {h:.2})"));
                    }
                    c
                })
                .collect();
            let _ = writeln!(o, "| {l} | {} |", cells.join(" | "));
        }
    }
    if !e.training.is_empty() {
        let _ = writeln!(
            o,
            "\nWhat training adds: each trained policy's score minus the same runs' untrained \
             agents', paired on the same episodes (mean ± 95%).\n\n| policy | held-out simulator \
             | true model |\n|---|---:|---:|"
        );
        for d in &e.training {
            let truth = match (d.true_mean, d.true_ci95) {
                (Some(m), Some(c)) => format!("{m:+.2} ± {c:.2}"),
                _ => String::new(),
            };
            let _ = writeln!(
                o,
                "| {} | {:+.2} ± {:.2} | {truth} |",
                d.policy, d.mean, d.ci95
            );
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
