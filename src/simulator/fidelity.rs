//! How far the simulator can be trusted: its predicted not-skip probability against what
//! happened on transitions it never saw.

use serde::{Deserialize, Serialize};

/// Fidelity figures of predicted probabilities `p` against outcomes `y`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Fidelity {
    pub transitions: usize,
    /// Share of transitions with a logged key inside the radius.
    pub covered: f64,
    /// Share of outcomes where (p > 0.5) matches.
    pub accuracy: f64,
    /// Accuracy of always answering the majority outcome of the base rate.
    pub base_accuracy: f64,
    /// Area under the ROC curve (0.5: no better than chance).
    pub auc: f64,
    /// Mean log-loss of the predictions.
    pub log_loss: f64,
    /// Mean log-loss of predicting the base rate everywhere.
    pub base_log_loss: f64,
}

impl Fidelity {
    /// "N held-out transitions (x% covered): accuracy … (base rate …), AUC …, log-loss … (base
    /// rate …)", as reports print it.
    pub fn summary(&self) -> String {
        format!(
            "{} held-out transitions ({:.1}% covered): accuracy {:.4} (base rate {:.4}), AUC {:.4}, log-loss {:.4} (base rate {:.4})",
            self.transitions,
            100.0 * self.covered,
            self.accuracy,
            self.base_accuracy,
            self.auc,
            self.log_loss,
            self.base_log_loss
        )
    }
}

/// ROC AUC by ranks (Mann-Whitney U), ties sharing their mean rank. NaN without both classes.
pub fn auc(p: &[f64], y: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && p[idx[j + 1]] == p[idx[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if y[k] {
                rank_sum_pos += mean_rank;
            }
        }
        i = j + 1;
    }
    let pos = y.iter().filter(|&&v| v).count() as f64;
    let neg = y.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum_pos - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

fn log_loss(p: f64, y: bool) -> f64 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    if y { -p.ln() } else { -(1.0 - p).ln() }
}

/// Scores predictions `p` (with coverage flags) against outcomes `y`, and the base rate
/// `base` (the simulator split's not-skip rate) as the reference.
pub fn fidelity(p: &[f64], covered: &[bool], y: &[bool], base: f64) -> Fidelity {
    let n = p.len().max(1) as f64;
    let pos = y.iter().filter(|&&v| v).count() as f64;
    Fidelity {
        transitions: p.len(),
        covered: covered.iter().filter(|&&c| c).count() as f64 / n,
        accuracy: p.iter().zip(y).filter(|(p, y)| (**p > 0.5) == **y).count() as f64 / n,
        base_accuracy: if base > 0.5 { pos / n } else { 1.0 - pos / n },
        auc: auc(p, y),
        log_loss: p.iter().zip(y).map(|(p, y)| log_loss(*p, *y)).sum::<f64>() / n,
        base_log_loss: y.iter().map(|y| log_loss(base, *y)).sum::<f64>() / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_textbook_perfect_and_ties() {
        // Perfect ranking: 1. Reversed: 0. All tied: 0.5.
        let y = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &y), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &y), 0.0);
        assert_eq!(auc(&[0.5; 4], &y), 0.5);
        // Textbook: scores (pos) 0.8, 0.4; (neg) 0.6, 0.2 → pairs won 3 of 4 → 0.75.
        assert_eq!(
            auc(&[0.8, 0.4, 0.6, 0.2], &[true, true, false, false]),
            0.75
        );
        assert!(auc(&[0.3, 0.4], &[true, true]).is_nan());
    }

    #[test]
    fn base_rate_predictions_match_the_base_log_loss() {
        let y = [true, false, false, false];
        let f = fidelity(&[0.25; 4], &[true; 4], &y, 0.25);
        assert!((f.log_loss - f.base_log_loss).abs() < 1e-12);
        assert_eq!(f.accuracy, 0.75);
        assert_eq!(f.base_accuracy, 0.75);
        assert_eq!(f.auc, 0.5);
        // −(ln 0.25 + 3 ln 0.75) / 4 = 0.562335.
        assert!((f.base_log_loss - 0.562335).abs() < 1e-6);
    }
}
