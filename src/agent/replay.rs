//! The replay buffer: a ring of transitions (standardised state, action in [−1, 1], reward,
//! next state), sampled uniformly.

use super::nets::Minibatch;
use crate::nn::store::Named;
use crate::rng::Rng;

#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    pub capacity: usize,
    pub state_dim: usize,
    pub action_dim: usize,
    /// Transitions held (≤ capacity).
    pub len: usize,
    /// Where the next transition goes.
    pub pos: usize,
    /// Transitions ever pushed.
    pub pushed: u64,
    s: Vec<f32>,
    a: Vec<f32>,
    r: Vec<f32>,
    s2: Vec<f32>,
}

impl Replay {
    pub fn new(capacity: usize, state_dim: usize, action_dim: usize) -> Replay {
        Replay {
            capacity,
            state_dim,
            action_dim,
            len: 0,
            pos: 0,
            pushed: 0,
            s: Vec::new(),
            a: Vec::new(),
            r: Vec::new(),
            s2: Vec::new(),
        }
    }

    pub fn push(&mut self, s: &[f32], a: &[f32], r: f32, s2: &[f32]) {
        let (sd, ad) = (self.state_dim, self.action_dim);
        assert!(s.len() == sd && s2.len() == sd && a.len() == ad);
        if self.len < self.capacity {
            // Grows until full, so a short run does not allocate the whole capacity.
            self.s.extend_from_slice(s);
            self.a.extend_from_slice(a);
            self.r.push(r);
            self.s2.extend_from_slice(s2);
            self.len += 1;
        } else {
            let i = self.pos;
            self.s[i * sd..(i + 1) * sd].copy_from_slice(s);
            self.a[i * ad..(i + 1) * ad].copy_from_slice(a);
            self.r[i] = r;
            self.s2[i * sd..(i + 1) * sd].copy_from_slice(s2);
        }
        self.pos = (self.pos + 1) % self.capacity;
        self.pushed += 1;
    }

    /// `n` transitions drawn uniformly with replacement.
    pub fn sample(&self, n: usize, rng: &mut Rng) -> Minibatch {
        let (sd, ad) = (self.state_dim, self.action_dim);
        let mut b = Minibatch {
            s: Vec::with_capacity(n * sd),
            a: Vec::with_capacity(n * ad),
            r: Vec::with_capacity(n),
            s2: Vec::with_capacity(n * sd),
        };
        for _ in 0..n {
            let i = rng.below(self.len as u64) as usize;
            b.s.extend_from_slice(&self.s[i * sd..(i + 1) * sd]);
            b.a.extend_from_slice(&self.a[i * ad..(i + 1) * ad]);
            b.r.push(self.r[i]);
            b.s2.extend_from_slice(&self.s2[i * sd..(i + 1) * sd]);
        }
        b
    }

    /// The held transitions as named tensors (for a checkpoint; positions in its metadata).
    pub fn export(&self) -> Vec<Named> {
        let n = self.len;
        vec![
            ("replay.s".into(), [n, self.state_dim], self.s.clone()),
            ("replay.a".into(), [n, self.action_dim], self.a.clone()),
            ("replay.r".into(), [n, 1], self.r.clone()),
            ("replay.s2".into(), [n, self.state_dim], self.s2.clone()),
        ]
    }

    /// Restores what [`export`](Self::export) wrote, with the saved `pos` and `pushed`.
    pub fn import(&mut self, t: &[Named], pos: usize, pushed: u64) -> Result<(), String> {
        let get = |name: &str, cols: usize| -> Result<(usize, Vec<f32>), String> {
            let (_, shape, v) = t
                .iter()
                .find(|x| x.0 == name)
                .ok_or_else(|| format!("missing tensor {name}"))?;
            if shape[1] != cols {
                return Err(format!("{name}: {} columns, expected {cols}", shape[1]));
            }
            Ok((shape[0], v.clone()))
        };
        let (n, s) = get("replay.s", self.state_dim)?;
        let (na, a) = get("replay.a", self.action_dim)?;
        let (nr, r) = get("replay.r", 1)?;
        let (n2, s2) = get("replay.s2", self.state_dim)?;
        if na != n || nr != n || n2 != n || n > self.capacity || pos >= self.capacity.max(1) {
            return Err("replay tensors disagree in length or exceed the capacity".into());
        }
        (self.s, self.a, self.r, self.s2) = (s, a, r, s2);
        self.len = n;
        self.pos = pos;
        self.pushed = pushed;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_overwrites_the_oldest_and_round_trips() {
        let mut r = Replay::new(3, 1, 1);
        for i in 0..5 {
            let x = i as f32;
            r.push(&[x], &[x], x, &[x]);
        }
        assert_eq!((r.len, r.pos, r.pushed), (3, 2, 5));
        // Slots: [3, 4, 2].
        let b = r.sample(200, &mut Rng::new(1));
        let mut seen: Vec<i32> = b.r.iter().map(|&x| x as i32).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, vec![2, 3, 4]);
        let mut back = Replay::new(3, 1, 1);
        back.import(&r.export(), r.pos, r.pushed).unwrap();
        assert_eq!(back, r);
    }
}
