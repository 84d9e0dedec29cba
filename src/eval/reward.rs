//! The reward of a response, one type for every environment: the simulator's draws, the true
//! model's expectations and the training loop's replay all value a level through it, so that
//! changing the reward changes every score the same way.

/// What each response level is worth: skip_1, skip_2, skip_3, not skipped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reward {
    values: [f64; 4],
}

impl Reward {
    pub fn new(values: [f64; 4]) -> Reward {
        Reward { values }
    }

    /// The reward of response `level` (0-3).
    pub fn of(&self, level: u8) -> f64 {
        self.values[level as usize]
    }

    /// The reward expected from a response with level probabilities `probs`.
    pub fn expected(&self, probs: &[f64; 4]) -> f64 {
        (0..4).map(|j| probs[j] * self.values[j]).sum()
    }

    pub fn values(&self) -> [f64; 4] {
        self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reward_values_levels_and_distributions() {
        let graded = Reward::new([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]);
        assert_eq!(graded.of(3), 1.0);
        // 0.1·0 + 0.2·(1/3) + 0.3·(2/3) + 0.4·1 = 0.0667 + 0.2 + 0.4 = 0.6667.
        let e = graded.expected(&[0.1, 0.2, 0.3, 0.4]);
        assert!((e - 2.0 / 3.0).abs() < 1e-12, "{e}");
        // The not-skipped reward's expectation is the not-skip probability, to the bit.
        let p = [0.3, 0.2, 0.1, 0.123_456_789];
        assert_eq!(Reward::new([0.0, 0.0, 0.0, 1.0]).expected(&p), p[3]);
    }
}
