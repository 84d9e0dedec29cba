//! The replay buffer: a ring of transitions (standardised state, action in [−1, 1], reward,
//! the discount of the bootstrap, next state), sampled uniformly; and the n-step returns that
//! feed it ([`NStep`]).

use std::collections::VecDeque;

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
    /// γ^k of each transition's bootstrap: k rewards are summed in `r`.
    d: Vec<f32>,
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
            d: Vec::new(),
            s2: Vec::new(),
        }
    }

    /// A transition: from `s`, action `a`, reward `r` (summed over the steps), then the value
    /// of `s2` discounted by `d`.
    pub fn push(&mut self, s: &[f32], a: &[f32], r: f32, d: f32, s2: &[f32]) {
        let (sd, ad) = (self.state_dim, self.action_dim);
        assert!(s.len() == sd && s2.len() == sd && a.len() == ad);
        if self.len < self.capacity {
            // Grows until full, so a short run does not allocate the whole capacity.
            self.s.extend_from_slice(s);
            self.a.extend_from_slice(a);
            self.r.push(r);
            self.d.push(d);
            self.s2.extend_from_slice(s2);
            self.len += 1;
        } else {
            let i = self.pos;
            self.s[i * sd..(i + 1) * sd].copy_from_slice(s);
            self.a[i * ad..(i + 1) * ad].copy_from_slice(a);
            self.r[i] = r;
            self.d[i] = d;
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
            d: Vec::with_capacity(n),
            s2: Vec::with_capacity(n * sd),
        };
        for _ in 0..n {
            let i = rng.below(self.len as u64) as usize;
            b.s.extend_from_slice(&self.s[i * sd..(i + 1) * sd]);
            b.a.extend_from_slice(&self.a[i * ad..(i + 1) * ad]);
            b.r.push(self.r[i]);
            b.d.push(self.d[i]);
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
            ("replay.d".into(), [n, 1], self.d.clone()),
            ("replay.s2".into(), [n, self.state_dim], self.s2.clone()),
        ]
    }

    /// Restores what [`export`](Self::export) wrote, with the saved `pos` and `pushed`.
    /// `gamma`: the discount of every transition of a checkpoint written before n-step
    /// returns, which holds no `replay.d` (all of them 1-step).
    pub fn import(
        &mut self,
        t: &[Named],
        pos: usize,
        pushed: u64,
        gamma: f32,
    ) -> Result<(), String> {
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
        let (nd, d) = match t.iter().any(|x| x.0 == "replay.d") {
            true => get("replay.d", 1)?,
            false => (n, vec![gamma; n]),
        };
        if na != n
            || nr != n
            || n2 != n
            || nd != n
            || n > self.capacity
            || pos >= self.capacity.max(1)
        {
            return Err("replay tensors disagree in length or exceed the capacity".into());
        }
        (self.s, self.a, self.r, self.d, self.s2) = (s, a, r, d, s2);
        self.len = n;
        self.pos = pos;
        self.pushed = pushed;
        Ok(())
    }
}

/// Folds each episode's steps into n-step transitions for the replay buffer (`n_step`): a
/// step waits until n rewards follow it, then goes in with their discounted sum and γ^n; an
/// episode's last step sends what waits with the rewards left. With n = 1 every step goes in
/// as it comes, as one-step TD has it.
pub struct NStep {
    n: usize,
    gamma: f64,
    /// Per episode: its steps not yet in the buffer, oldest first.
    waiting: Vec<VecDeque<Waiting>>,
}

/// A step waiting for the rewards after it: state, action, reward.
type Waiting = (Vec<f32>, Vec<f32>, f64);

impl NStep {
    pub fn new(n: usize, gamma: f64, episodes: usize) -> NStep {
        NStep {
            n: n.max(1),
            gamma,
            waiting: vec![VecDeque::new(); episodes],
        }
    }

    /// Episode `i` took action `a` in state `s`, earned `r` and reached `s2`; `last`: the
    /// episode ends there.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        replay: &mut Replay,
        i: usize,
        s: &[f32],
        a: &[f32],
        r: f64,
        s2: &[f32],
        last: bool,
    ) {
        self.waiting[i].push_back((s.to_vec(), a.to_vec(), r));
        if self.waiting[i].len() == self.n {
            self.send(replay, i, s2);
        }
        while last && !self.waiting[i].is_empty() {
            self.send(replay, i, s2);
        }
    }

    /// Sends episode `i`'s oldest waiting step, bootstrapping from `s2`.
    fn send(&mut self, replay: &mut Replay, i: usize, s2: &[f32]) {
        let q = &mut self.waiting[i];
        let (mut ret, mut discount) = (0.0f64, 1.0f64);
        for (_, _, r) in q.iter() {
            ret += discount * r;
            discount *= self.gamma;
        }
        if let Some((s, a, _)) = q.pop_front() {
            replay.push(&s, &a, ret as f32, discount as f32, s2);
        }
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
            r.push(&[x], &[x], x, 0.5, &[x]);
        }
        assert_eq!((r.len, r.pos, r.pushed), (3, 2, 5));
        // Slots: [3, 4, 2].
        let b = r.sample(200, &mut Rng::new(1));
        let mut seen: Vec<i32> = b.r.iter().map(|&x| x as i32).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, vec![2, 3, 4]);
        let mut back = Replay::new(3, 1, 1);
        back.import(&r.export(), r.pos, r.pushed, 0.9).unwrap();
        assert_eq!(back, r);
        // A checkpoint from before n-step returns: every transition discounted by γ.
        let old: Vec<Named> = r
            .export()
            .into_iter()
            .filter(|t| t.0 != "replay.d")
            .collect();
        let mut back = Replay::new(3, 1, 1);
        back.import(&old, r.pos, r.pushed, 0.9).unwrap();
        assert_eq!(back.sample(5, &mut Rng::new(1)).d, vec![0.9; 5]);
    }

    /// Every transition of a buffer, in slot order: (state, reward, discount, next state).
    fn held(r: &Replay) -> Vec<(f32, f32, f32, f32)> {
        (0..r.len)
            .map(|i| (r.s[i], r.r[i], r.d[i], r.s2[i]))
            .collect()
    }

    #[test]
    fn n_step_returns_sum_the_rewards_that_follow_and_flush_at_the_end() {
        // One episode of 4 steps: state t, reward 1, 10, 100, 1000, next state t + 1.
        let play = |n: usize| {
            let mut r = Replay::new(10, 1, 1);
            let mut acc = NStep::new(n, 0.5, 1);
            for t in 0..4 {
                let (s, s2) = (t as f32, t as f32 + 1.0);
                acc.step(&mut r, 0, &[s], &[0.0], 10f64.powi(t), &[s2], t == 3);
            }
            held(&r)
        };
        // One step: each reward alone, bootstrapping from the next state with γ.
        assert_eq!(
            play(1),
            [
                (0., 1., 0.5, 1.),
                (1., 10., 0.5, 2.),
                (2., 100., 0.5, 3.),
                (3., 1000., 0.5, 4.)
            ]
        );
        // Two steps: r_t + γ r_{t+1}, then γ² on the state two steps on; the last step alone.
        assert_eq!(
            play(2),
            [
                (0., 6., 0.25, 2.),
                (1., 60., 0.25, 3.),
                (2., 600., 0.25, 4.),
                (3., 1000., 0.5, 4.)
            ]
        );
        // More steps than the episode: everything waits for the end, then goes in from there.
        assert_eq!(
            play(9),
            [
                (0., 1. + 5. + 25. + 125., 0.0625, 4.),
                (1., 10. + 50. + 250., 0.125, 4.),
                (2., 100. + 500., 0.25, 4.),
                (3., 1000., 0.5, 4.)
            ]
        );
    }
}
