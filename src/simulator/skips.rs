//! The Spotify Sequential Skip Prediction Challenge (WSDM Cup 2019) on a sample's sessions: for
//! every session of length L, the first ⌊L/2⌋ plays are given with their responses, and `skip_2`
//! is predicted for each of the remaining plays (their tracks are known, their responses are
//! not). The challenge's metric: per session, Average Accuracy AA = (1/T) Σᵢ A(i)·L(i), with T
//! the plays to predict, A(i) the accuracy over the first i predictions and L(i) = 1 when
//! prediction i is right; the Mean Average Accuracy (MAA) over sessions, and the accuracy of the
//! first prediction as the tie-breaker. Models are compared on the same sessions with a
//! bootstrap over sessions, paired for differences.

use serde::{Deserialize, Serialize};

use crate::data::{Flags, Sample, Split};
use crate::rng::Rng;

/// One session's task: the given half and what is to be predicted.
#[derive(Clone, Debug)]
pub struct Task {
    /// skip_2 of the given plays, in order.
    pub given: Vec<bool>,
    /// The given plays as (track, response level), as the encoder and simulator read them.
    pub given_plays: Vec<(u32, u8)>,
    /// Tracks of the plays to predict, in order (their ids in the sample's track table).
    pub upcoming: Vec<u32>,
    /// The truth: skip_2 of those plays.
    pub truth: Vec<bool>,
}

/// The tasks of every session of `split` long enough to leave a play to predict.
pub fn tasks(sample: &Sample, split: Split) -> Vec<Task> {
    sample
        .sessions_in(split)
        .filter_map(|s| {
            let rows = sample.rows_of(s);
            let half = rows.len() / 2;
            (half < rows.len() && !rows.is_empty()).then(|| {
                let skip = |r: &crate::data::Row| r.flags.has(Flags::SKIP_2);
                Task {
                    given: rows[..half].iter().map(skip).collect(),
                    given_plays: rows[..half]
                        .iter()
                        .map(|r| (r.track, r.flags.response_level()))
                        .collect(),
                    upcoming: rows[half..].iter().map(|r| r.track).collect(),
                    truth: rows[half..].iter().map(skip).collect(),
                }
            })
        })
        .collect()
}

/// The challenge's Average Accuracy of one session's predictions; `None` for no prediction.
pub fn average_accuracy(pred: &[bool], truth: &[bool]) -> Option<f64> {
    let t = pred.len().min(truth.len());
    if t == 0 {
        return None;
    }
    let (mut right, mut sum) = (0usize, 0.0);
    for i in 0..t {
        if pred[i] == truth[i] {
            right += 1;
            sum += right as f64 / (i + 1) as f64;
        }
    }
    Some(sum / t as f64)
}

/// A skip_2 predictor for the second half of a session.
pub trait SkipPredictor {
    fn name(&self) -> String;
    /// Predictions for `task.upcoming`, from `task.given` only (never `task.truth`).
    fn predict(&mut self, task: &Task) -> Vec<bool>;
}

/// A fair coin per play, from a seeded stream.
pub struct Coin(pub Rng);

impl SkipPredictor for Coin {
    fn name(&self) -> String {
        "random".into()
    }
    fn predict(&mut self, task: &Task) -> Vec<bool> {
        task.upcoming
            .iter()
            .map(|_| self.0.bernoulli(0.5))
            .collect()
    }
}

/// Every play skipped.
pub struct AlwaysSkip;

impl SkipPredictor for AlwaysSkip {
    fn name(&self) -> String {
        "always skip".into()
    }
    fn predict(&mut self, task: &Task) -> Vec<bool> {
        vec![true; task.upcoming.len()]
    }
}

/// The last given play's skip_2, repeated (the challenge's published baseline).
pub struct RepeatLast;

impl SkipPredictor for RepeatLast {
    fn name(&self) -> String {
        "repeat last skip_2".into()
    }
    fn predict(&mut self, task: &Task) -> Vec<bool> {
        let last = task.given.last().copied().unwrap_or(false);
        vec![last; task.upcoming.len()]
    }
}

/// The training split's majority skip_2 at each session position (positions past 20 share one
/// rate).
#[derive(Clone)]
pub struct PositionRate {
    skip_more_often: [bool; 20],
}

impl PositionRate {
    pub fn fit(train: &[Task]) -> PositionRate {
        let mut counts = [[0u64; 2]; 20];
        for t in train {
            let all = t.given.iter().chain(&t.truth);
            for (p, &s) in all.enumerate() {
                let c = &mut counts[p.min(19)];
                c[0] += 1;
                c[1] += s as u64;
            }
        }
        PositionRate {
            skip_more_often: counts.map(|[n, s]| 2 * s > n),
        }
    }
}

impl SkipPredictor for PositionRate {
    fn name(&self) -> String {
        "per-position base rate".into()
    }
    fn predict(&mut self, task: &Task) -> Vec<bool> {
        let first = task.given.len();
        (0..task.upcoming.len())
            .map(|i| self.skip_more_often[(first + i).min(19)])
            .collect()
    }
}

/// A logistic model of each second-half play's skip_2 from what the given half says and what
/// the training split says of the track, fitted on the training split's tasks (their second
/// halves are known there). It reads the given half only, never the predicted plays' truth.
#[derive(Clone)]
pub struct SessionLogistic {
    weights: Vec<f64>,
    /// Each track's training skip_2 count and plays (indexed by the sample's track id).
    track: Vec<[u32; 2]>,
    /// The training split's skip_2 rate.
    rate: f64,
}

/// Pseudo-plays at the training rate that a track's own rate is shrunk with.
const TRACK_PRIOR: f64 = 5.0;

impl SessionLogistic {
    /// Fits by Newton's method (iteratively reweighted least squares) with a small ridge.
    pub fn fit(train: &[Task], tracks: usize) -> SessionLogistic {
        let mut track = vec![[0u32; 2]; tracks];
        let (mut skips, mut plays) = (0u64, 0u64);
        for t in train {
            for (&id, &s) in t.upcoming.iter().zip(&t.truth) {
                if let Some(c) = track.get_mut(id as usize) {
                    c[0] += s as u32;
                    c[1] += 1;
                }
                skips += s as u64;
                plays += 1;
            }
        }
        let mut m = SessionLogistic {
            weights: Vec::new(),
            track,
            rate: skips as f64 / plays.max(1) as f64,
        };
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for t in train {
            for j in 0..t.truth.len() {
                // The track's rate without this very play, or the feature would leak the label.
                x.push(m.features(t, j, Some(t.truth[j])));
                y.push(t.truth[j] as u8 as f64);
            }
        }
        m.weights = newton(&x, &y, 1e-4, 25);
        m
    }

    /// The features of play `j` of the second half: a constant, the last given skip_2, the
    /// given half's rate, the one before last, the length of the last run, the distance into
    /// the second half (alone and with the last skip), and the track's training rate (shrunk
    /// to the split's) with its log play count; `own`: the play's own label, left out of its
    /// track's counts.
    fn features(&self, t: &Task, j: usize, own: Option<bool>) -> Vec<f64> {
        let g = &t.given;
        let b = |x: bool| x as u8 as f64;
        let last = g.last().map_or(self.rate, |&x| b(x));
        let mean = match g.len() {
            0 => self.rate,
            n => g.iter().filter(|&&x| x).count() as f64 / n as f64,
        };
        let before = g.len().checked_sub(2).map_or(mean, |i| b(g[i]));
        let run = g
            .iter()
            .rev()
            .take_while(|&&x| Some(&x) == g.last())
            .count() as f64;
        let d = j as f64 / 10.0;
        let [mut s, mut n] = self
            .track
            .get(t.upcoming[j] as usize)
            .copied()
            .unwrap_or([0, 0]);
        if let (Some(own), true) = (own, n > 0) {
            s -= own as u32;
            n -= 1;
        }
        let shrunk = (s as f64 + TRACK_PRIOR * self.rate) / (n as f64 + TRACK_PRIOR);
        vec![
            1.0,
            last,
            mean,
            before,
            run / 10.0,
            d,
            (last - 0.5) * d,
            shrunk - self.rate,
            (1.0 + n as f64).ln() / 5.0,
        ]
    }
}

impl SkipPredictor for SessionLogistic {
    fn name(&self) -> String {
        "session logistic".into()
    }
    /// Each play's likelier answer. With independent plays that is also the sequence of the
    /// highest expected Average Accuracy, which rises with every play's chance of being right.
    fn predict(&mut self, task: &Task) -> Vec<bool> {
        (0..task.upcoming.len())
            .map(|j| {
                let z: f64 = (self.features(task, j, None).iter().zip(&self.weights))
                    .map(|(a, w)| a * w)
                    .sum();
                z > 0.0
            })
            .collect()
    }
}

/// Logistic regression weights of rows `x` for labels `y` in {0, 1}: `steps` Newton steps on
/// the log-likelihood with a `ridge` penalty (the first weight, the constant's, unpenalised).
fn newton(x: &[Vec<f64>], y: &[f64], ridge: f64, steps: usize) -> Vec<f64> {
    let k = x.first().map_or(0, Vec::len);
    let mut w = vec![0.0; k];
    for _ in 0..steps {
        let mut grad = vec![0.0; k];
        let mut hess = vec![vec![0.0; k]; k];
        for (xi, &yi) in x.iter().zip(y) {
            let z: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let r = p * (1.0 - p);
            for a in 0..k {
                grad[a] += (p - yi) * xi[a];
                for c in 0..k {
                    hess[a][c] += r * xi[a] * xi[c];
                }
            }
        }
        for a in 1..k {
            grad[a] += ridge * x.len() as f64 * w[a];
            hess[a][a] += ridge * x.len() as f64;
        }
        let step = solve(hess, grad);
        for (wa, sa) in w.iter_mut().zip(step) {
            *wa -= sa;
        }
    }
    w
}

/// `a⁻¹·b` by Gaussian elimination with partial pivoting (`a` symmetric positive definite here).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        a.swap(c, p);
        b.swap(c, p);
        let d = a[c][c];
        if d.abs() < 1e-300 {
            continue;
        }
        for r in c + 1..n {
            let f = a[r][c] / d;
            let (above, below) = a.split_at_mut(r);
            for (x, p) in below[0][c..].iter_mut().zip(&above[c][c..]) {
                *x -= f * p;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for c in (0..n).rev() {
        let s: f64 = (c + 1..n).map(|k| a[c][k] * x[k]).sum();
        x[c] = if a[c][c].abs() < 1e-300 {
            0.0
        } else {
            (b[c] - s) / a[c][c]
        };
    }
    x
}

/// Predictions made beforehand for the tasks, handed out in the tasks' order.
pub struct Precomputed {
    pub name: String,
    pub predictions: std::vec::IntoIter<Vec<bool>>,
}

impl SkipPredictor for Precomputed {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn predict(&mut self, task: &Task) -> Vec<bool> {
        self.predictions
            .next()
            .unwrap_or_else(|| vec![false; task.upcoming.len()])
    }
}

/// The kNN user simulator's own response model as a skip predictor: each play of the second
/// half is predicted from the encoded history before it (the given plays, then the predicted
/// ones fed forward, never the true second-half responses), skip_2 when the simulator's
/// probability of skip_1 or skip_2 exceeds one half; the level fed forward is the likelier
/// level on the predicted side. All sessions advance a step at a time, in batches.
pub fn simulator_predictions(
    sim: &super::Simulator,
    encoder: &crate::encoder::train::Encoder,
    tasks: &[Task],
) -> Vec<Vec<bool>> {
    use super::memory::{Transition, encode_transitions, histories};
    let steps = encoder.model.steps.max(1);
    let mut plays: Vec<Vec<(u32, u8)>> = tasks.iter().map(|t| t.given_plays.clone()).collect();
    let mut out: Vec<Vec<bool>> = tasks.iter().map(|_| Vec::new()).collect();
    let longest = tasks.iter().map(|t| t.upcoming.len()).max().unwrap_or(0);
    for j in 0..longest {
        let live: Vec<usize> = (0..tasks.len())
            .filter(|&i| j < tasks[i].upcoming.len())
            .collect();
        let trans: Vec<Transition> = live
            .iter()
            .map(|&i| Transition {
                history: plays[i][plays[i].len().saturating_sub(steps)..].to_vec(),
                track: tasks[i].upcoming[j],
                level: 0,
            })
            .collect();
        let (states, actions) = encode_transitions(encoder, &trans);
        let recent = sim.recent(&encoder.songs, &histories(&trans), &actions);
        let responses = sim.respond(&states, &actions, &recent);
        for (&i, r) in live.iter().zip(&responses) {
            let p = r.probs;
            let skipped = p[0] + p[1] > 0.5;
            let level = match skipped {
                true if p[0] >= p[1] => 0,
                true => 1,
                false if p[2] > p[3] => 2,
                false => 3,
            };
            out[i].push(skipped);
            plays[i].push((tasks[i].upcoming[j], level));
        }
    }
    out
}

/// A model's scores, one per session, in the order of the tasks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelScores {
    pub model: String,
    pub aa: Vec<f64>,
    /// 1 when the first prediction is right, else 0.
    pub first: Vec<f64>,
}

/// Scores `model` on `tasks`.
pub fn score(model: &mut dyn SkipPredictor, tasks: &[Task]) -> ModelScores {
    let (mut aa, mut first) = (Vec::new(), Vec::new());
    for t in tasks {
        let p = model.predict(t);
        assert_eq!(
            p.len(),
            t.truth.len(),
            "{} predicted the wrong count",
            model.name()
        );
        if let Some(a) = average_accuracy(&p, &t.truth) {
            aa.push(a);
            first.push((p[0] == t.truth[0]) as u8 as f64);
        }
    }
    ModelScores {
        model: model.name(),
        aa,
        first,
    }
}

/// A mean with its bootstrap 95% interval (percentiles of `resamples` resampled means).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The mean of `x` and the bootstrap interval of the mean of `x` (for paired differences, `x`
/// holds the per-session differences). Session draws come from `seed`, so models scored on the
/// same sessions are resampled alike.
pub fn bootstrap(x: &[f64], resamples: usize, seed: u64) -> Interval {
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n.max(1) as f64;
    if n == 0 || resamples == 0 {
        return Interval {
            mean,
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let mut rng = Rng::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| x[rng.below(n as u64) as usize]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * resamples as f64) as usize).min(resamples - 1)];
    Interval {
        mean,
        lo: at(0.025),
        hi: at(0.975),
    }
}

/// One row of the table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SkipRow {
    pub model: String,
    pub maa: Interval,
    pub first_accuracy: Interval,
    /// MAA of this model minus the reference's, paired over the same sessions.
    pub maa_vs_reference: Interval,
}

/// The report of `segue skips`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SkipReport {
    pub sessions: usize,
    pub predictions: usize,
    pub reference: String,
    pub rows: Vec<SkipRow>,
    /// The simulator's response model ([`SIMULATOR`]) against the best other model by MAA:
    /// its name and the simulator's MAA minus its, paired over the same sessions.
    #[serde(default)]
    pub simulator_vs_best: Option<(String, Interval)>,
    /// Scored on logs the sample never held (`--logs`): what they bring. None: the sample's
    /// test split.
    #[serde(default)]
    pub coverage: Option<crate::data::LogsCoverage>,
    /// The same models, fitted on the same training split, scored on `--logs`.
    #[serde(default)]
    pub on_logs: Option<Box<SkipReport>>,
}

/// The name of the simulator's own response model among the models.
pub const SIMULATOR: &str = "kNN user simulator";

/// Scores every model on `tasks`; differences are taken against the model named `reference`.
pub fn report(
    models: &mut [Box<dyn SkipPredictor>],
    tasks: &[Task],
    reference: &str,
    resamples: usize,
    seed: u64,
) -> SkipReport {
    let scores: Vec<ModelScores> = models
        .iter_mut()
        .map(|m| score(m.as_mut(), tasks))
        .collect();
    let base = scores
        .iter()
        .find(|s| s.model == reference)
        .map(|s| s.aa.clone());
    let rows = scores
        .iter()
        .map(|s| {
            let diff: Vec<f64> = match &base {
                Some(b) => s.aa.iter().zip(b).map(|(a, b)| a - b).collect(),
                None => Vec::new(),
            };
            SkipRow {
                model: s.model.clone(),
                maa: bootstrap(&s.aa, resamples, seed),
                first_accuracy: bootstrap(&s.first, resamples, seed),
                maa_vs_reference: bootstrap(&diff, resamples, seed),
            }
        })
        .collect();
    // The simulator against the best of the others: the gap every RL score inherits.
    let mean = |s: &ModelScores| s.aa.iter().sum::<f64>() / s.aa.len().max(1) as f64;
    let best =
        (scores.iter().filter(|s| s.model != SIMULATOR)).max_by(|a, b| mean(a).total_cmp(&mean(b)));
    let simulator_vs_best = match (scores.iter().find(|s| s.model == SIMULATOR), best) {
        (Some(sim), Some(b)) => {
            let d: Vec<f64> = sim.aa.iter().zip(&b.aa).map(|(x, y)| x - y).collect();
            Some((b.model.clone(), bootstrap(&d, resamples, seed)))
        }
        _ => None,
    };
    SkipReport {
        sessions: scores.first().map_or(0, |s| s.aa.len()),
        predictions: tasks.iter().map(|t| t.truth.len()).sum(),
        reference: reference.into(),
        rows,
        simulator_vs_best,
        coverage: None,
        on_logs: None,
    }
}

/// The report as a table.
pub fn table(r: &SkipReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} sessions, {} predictions; 95% bootstrap intervals over sessions",
        r.sessions, r.predictions
    );
    let _ = writeln!(
        o,
        "  {:<26} {:>24} {:>24} {:>26}",
        "model",
        "MAA",
        "first-prediction acc.",
        format!("MAA − {}", r.reference)
    );
    let iv = |i: &Interval| format!("{:.4} [{:.4}, {:.4}]", i.mean, i.lo, i.hi);
    for x in &r.rows {
        let diff = if x.model == r.reference {
            "—".to_string()
        } else {
            let d = &x.maa_vs_reference;
            format!("{:+.4} [{:+.4}, {:+.4}]", d.mean, d.lo, d.hi)
        };
        let _ = writeln!(
            o,
            "  {:<26} {:>24} {:>24} {:>26}",
            x.model,
            iv(&x.maa),
            iv(&x.first_accuracy),
            diff
        );
    }
    if let Some((best, d)) = &r.simulator_vs_best {
        let _ = writeln!(
            o,
            "  {SIMULATOR} − {best} (the best other model), paired: {:+.4} [{:+.4}, {:+.4}]",
            d.mean, d.lo, d.hi
        );
    }
    if let Some(l) = &r.on_logs {
        let _ = writeln!(o, "\non --logs, never in the sample:");
        if let Some(c) = &l.coverage {
            let _ = writeln!(o, "{}", c.summary());
        }
        o.push_str(&table(l));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_session_logistic_learns_what_the_training_halves_show() {
        // Training sessions whose second half repeats the first half's last skip_2, except on
        // track 7, which is always skipped: the model must learn both, and track 7's rate must
        // come from the other sessions' plays, not from the play it predicts.
        let mut rng = Rng::new(5);
        let task = |rng: &mut Rng| {
            let given: Vec<bool> = (0..5).map(|_| rng.bernoulli(0.5)).collect();
            let last = given[4];
            let upcoming: Vec<u32> = (0..5).map(|_| rng.below(20) as u32).collect();
            let truth = upcoming.iter().map(|&u| u == 7 || last).collect();
            Task {
                given_plays: given.iter().map(|&g| (0, if g { 0 } else { 3 })).collect(),
                given,
                upcoming,
                truth,
            }
        };
        let train: Vec<Task> = (0..400).map(|_| task(&mut rng)).collect();
        let mut m = SessionLogistic::fit(&train, 20);
        let test: Vec<Task> = (0..100).map(|_| task(&mut rng)).collect();
        for t in &test {
            assert_eq!(m.predict(t), t.truth, "{:?} {:?}", t.given, t.upcoming);
        }
        assert_eq!(m.name(), "session logistic");
    }

    #[test]
    fn newton_recovers_a_logistic_models_weights() {
        let mut rng = Rng::new(9);
        let w = [-0.5, 2.0, -1.0];
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..20_000 {
            let xi = vec![1.0, rng.normal(), rng.normal()];
            let z: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum();
            y.push(rng.bernoulli(1.0 / (1.0 + (-z).exp())) as u8 as f64);
            x.push(xi);
        }
        let got = newton(&x, &y, 0.0, 25);
        for (g, t) in got.iter().zip(w) {
            assert!((g - t).abs() < 0.1, "{got:?}");
        }
    }

    #[test]
    fn average_accuracy_by_hand() {
        let t = [true, false, true, true, false];
        let flip = |i: usize| -> Vec<bool> {
            t.iter()
                .enumerate()
                .map(|(j, &v)| if j == i { !v } else { v })
                .collect()
        };
        // Perfect: every A(i) = 1.
        assert_eq!(average_accuracy(&t, &t), Some(1.0));
        // Only the first wrong: (1/2 + 2/3 + 3/4 + 4/5) / 5 = 0.5433…
        let a = average_accuracy(&flip(0), &t).unwrap();
        assert!(close(a, (0.5 + 2.0 / 3.0 + 0.75 + 0.8) / 5.0), "{a}");
        assert!((a - 0.543).abs() < 5e-4);
        // Only the last wrong: (1 + 1 + 1 + 1) / 5.
        assert!(close(average_accuracy(&flip(4), &t).unwrap(), 0.8));
        // All wrong: 0. Nothing to predict: no score.
        let none: Vec<bool> = t.iter().map(|v| !v).collect();
        assert_eq!(average_accuracy(&none, &t), Some(0.0));
        assert_eq!(average_accuracy(&[], &[]), None);
    }

    #[test]
    fn baselines_predict_from_the_given_half_only() {
        let task = Task {
            given: vec![false, true],
            given_plays: vec![(1, 3), (2, 1)],
            upcoming: vec![7, 8, 9],
            truth: vec![false, false, false],
        };
        assert_eq!(RepeatLast.predict(&task), [true, true, true]);
        assert_eq!(AlwaysSkip.predict(&task), [true, true, true]);
        // Positions 3-5 (0-based 2-4): skipped more often than not only at position 4.
        let train = vec![Task {
            given: vec![false, false],
            given_plays: vec![(1, 3), (2, 3)],
            upcoming: vec![1, 2, 3],
            truth: vec![false, false, true],
        }];
        assert_eq!(
            PositionRate::fit(&train).predict(&task),
            [false, false, true]
        );
    }

    #[test]
    fn the_simulator_is_paired_with_the_best_other_model() {
        // Two sessions of three plays to predict, all heard out: AA 1 for every right answer.
        let task = |_| Task {
            given: vec![false],
            given_plays: vec![(1, 3)],
            upcoming: vec![1, 2, 3],
            truth: vec![false, false, false],
        };
        let tasks: Vec<Task> = (0..2).map(task).collect();
        let given = |name: &str, p: Vec<Vec<bool>>| -> Box<dyn SkipPredictor> {
            Box::new(Precomputed {
                name: name.into(),
                predictions: p.into_iter(),
            })
        };
        // Session AAs: "half" 1 and 0; the simulator 1 and 1/9 (its second session right
        // only at the last play: A(3) / T = (1/3) / 3); always skip 0 and 0.
        let mut models = vec![
            Box::new(AlwaysSkip) as Box<dyn SkipPredictor>,
            given("half", vec![vec![false; 3], vec![true; 3]]),
            given(SIMULATOR, vec![vec![false; 3], vec![true, true, false]]),
        ];
        let r = report(&mut models, &tasks, "always skip", 200, 1);
        let (best, d) = r.simulator_vs_best.unwrap();
        assert_eq!(best, "half");
        assert!(close(d.mean, (0.0 + 1.0 / 9.0) / 2.0), "{}", d.mean);
        // Without the simulator there is nothing to pair.
        let r = report(&mut models[..2], &tasks, "always skip", 200, 1);
        assert!(r.simulator_vs_best.is_none());
    }

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_shrinks_with_data() {
        let x: Vec<f64> = (0..400).map(|i| (i % 4) as f64 / 3.0).collect();
        let b = bootstrap(&x, 1000, 1);
        assert!(close(b.mean, 0.5));
        assert!(b.lo < 0.5 && 0.5 < b.hi, "{b:?}");
        let small = bootstrap(&x[..40], 1000, 1);
        assert!(small.hi - small.lo > b.hi - b.lo);
        // A constant difference has a zero-width interval.
        let c = bootstrap(&[0.25; 50], 200, 3);
        assert_eq!((c.lo, c.hi), (0.25, 0.25));
    }
}
